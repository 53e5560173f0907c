// Checks an import graph against layering rules (layers.ts). Kept apart from the test so the same checker runs
// on src/ and on the fixture trees that prove it fails.
import type { ImportEdge } from './import-graph.js';
import type { LayerRules } from './layers.js';

/** The unit of a path relative to src/: its first folder, or a top-level file's name without `.ts`. */
export function unitOf(path: string): string {
  const i = path.indexOf('/');
  return i >= 0 ? path.slice(0, i) : path.replace(/\.ts$/, '');
}

/** Every broken rule, one line each (`file:line: …`), sorted; empty when the graph follows the rules. */
export function layeringViolations(edges: readonly ImportEdge[], rules: LayerRules): string[] {
  const out: string[] = [];
  const shared = new Set(rules.shared);
  const parts = new Set(rules.parts);
  const known = new Set([...rules.shared, ...rules.parts, ...rules.composers]);
  /** Per file: the parts (other than its own unit) it imports values from, with a line of each. */
  const valueParts = new Map<string, Map<string, number>>();

  for (const e of edges) {
    const from = unitOf(e.from);
    const at = `${e.from}:${e.line}`;
    if (e.pkg) {
      const rule = rules.packages.find((p) => p.name === e.to);
      if (rule && !rule.only.includes(from)) out.push(`${at}: imports package ${e.to} (${rule.why})`);
      continue;
    }
    if (e.to.startsWith('../')) continue; // outside the tree (package.json read by URL)
    const to = unitOf(e.to);
    if (to === from) continue;
    for (const f of rules.forbidden) {
      if (f.from === from && f.to.includes(to)) out.push(`${at}: ${from} imports ${e.to} (${f.why})`);
    }
    for (const r of rules.importedOnlyBy) {
      if (r.unit === to && !r.by.includes(from)) out.push(`${at}: ${from} imports ${e.to}, which only ${r.by.join(', ') || 'nothing'} may import (${r.why})`);
    }
    if (shared.has(from) && !shared.has(to)) out.push(`${at}: shared unit ${from} imports ${e.to} (shared code imports only shared code)`);
    if (!known.has(to) && !rules.importedOnlyBy.some((r) => r.unit === to)) out.push(`${at}: ${e.to} is in no layer (add its unit to the rules)`);
    if (parts.has(to) && e.kind !== 'type' && !rules.composers.includes(from)) {
      let m = valueParts.get(e.from);
      if (!m) valueParts.set(e.from, (m = new Map()));
      if (!m.has(to)) m.set(to, e.line);
    }
  }
  for (const [file, m] of valueParts) {
    if (m.size > 1) {
      const list = [...m].map(([u, l]) => `${u} (line ${l})`).join(', ');
      out.push(`${file}: wires parts ${list}; only ${rules.composers.join(', ')} may import values from more than one other part`);
    }
  }
  return out.sort();
}
