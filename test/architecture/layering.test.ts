// The intended layering (test/architecture/layers.ts) holds in src/: the import graph, read with the TypeScript
// parser, breaks no rule. The same checker is shown to fail on a fixture tree with one deliberately bad import per
// rule, and to pass a fixture tree of allowed patterns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { importGraph, specifiers } from './import-graph.js';
import { layeringViolations } from './layering.js';
import { LAYERS } from './layers.js';

const dir = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

test('src/ follows the layering rules', () => {
  const edges = importGraph(dir('../../src'));
  assert.ok(edges.length > 300, `only ${edges.length} import edges read from src/`);
  assert.deepEqual(layeringViolations(edges, LAYERS), []);
});

test('every unit of src/ is in a layer', () => {
  const units = new Set(importGraph(dir('../../src')).map((e) => (e.from.includes('/') ? e.from.split('/')[0]! : e.from.replace(/\.ts$/, ''))));
  const known = new Set([...LAYERS.shared, ...LAYERS.parts, ...LAYERS.composers, ...LAYERS.importedOnlyBy.map((r) => r.unit)]);
  assert.deepEqual([...units].filter((u) => !known.has(u)), []);
});

test('the checker fails on a tree with bad imports (fixture)', () => {
  assert.deepEqual(layeringViolations(importGraph(dir('fixtures/bad')), LAYERS), [
    'api/v1.ts:5: api imports sip/numbers.ts (shared number and address helpers live in src/net/)',
    'config/load.ts:2: config imports cli/help.ts (the command line parser and help text are part of the configuration)',
    'config/load.ts:2: config imports cli/help.ts, which only main, node may import (commands and start-up checks of the program)',
    'config/load.ts:2: shared unit config imports cli/help.ts (shared code imports only shared code)',
    'events/event.ts:2: shared unit events imports api/format.ts (shared code imports only shared code)',
    'p2p/node.ts: wires parts sinks (line 2), store (line 3); only node may import values from more than one other part',
    'sinks/webhook.ts:2: imports package better-sqlite3 (the store owns the database)',
    'sip/capture.ts:3: sip imports sinks/json-log.ts (capture hands events on; it knows no consumer)',
    'store/queries.ts:2: store imports api/format.ts (the store owns the database and serves typed interfaces; consumers register with it)',
    'store/sqlite.ts:2: store imports sinks/json-log.ts (the store owns the database and serves typed interfaces; consumers register with it)',
  ]);
});

test('the checker passes allowed patterns (fixture)', () => {
  assert.deepEqual(layeringViolations(importGraph(dir('fixtures/good')), LAYERS), []);
});

test('import forms read by the parser', () => {
  const src = [
    "import type { A } from './a.js';",
    "import { type B, type C } from './b.js';",
    "import { d, type E } from './d.js';",
    "import './side.js';",
    "export * from './all.js';",
    "export type { F } from './f.js';",
    "const m = await import('./dyn.js');",
    'const n = await import(`./${name}.js`);',
    "type G = import('./g.js').G;",
    "const w = new URL('./worker.js', import.meta.url);",
    "const p = new URL('../package.json', import.meta.url);",
    "const s = 'import x from \"./in-a-string.js\"';",
    '// import y from "./in-a-comment.js";',
  ].join('\n');
  assert.deepEqual(specifiers('x.ts', src).map((s) => `${s.line} ${s.kind} ${s.spec}`), [
    '1 type ./a.js', '2 type ./b.js', '3 import ./d.js', '4 import ./side.js', '5 export ./all.js', '6 type ./f.js',
    '7 dynamic ./dyn.js', '9 type ./g.js', '10 worker-url ./worker.js',
  ]);
});
