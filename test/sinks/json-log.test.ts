/**
 * The JSON log under write failures (issue 11, defect 6): a partial write is cut back to the last whole line, a
 * partial tail left by a crash is cut at open, unwritten lines are held within a byte bound (oldest kept, the
 * rest dropped and counted) and written once the file can be written again, by the next batch or a timed retry.
 * The real-disk case (tmpfs, ENOSPC) is in disk-full.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toJsonLogLine } from '../../src/events/json-log.js';
import { createJsonLogObserver } from '../../src/sinks/json-log.js';
import type { ObserverCount } from '../../src/store/observers.js';
import { makeEvent } from './helpers.js';

function counter() {
  const c: Record<ObserverCount, number> = { delivered: 0, dropped: 0, errors: 0 };
  return { c, context: { count: (k: ObserverCount, n: number) => { c[k] += n; } } };
}

/** Captures process.stderr.write during `fn`. */
async function quietStderr<T>(fn: () => T | Promise<T>): Promise<{ value: T; stderr: string }> {
  const orig = process.stderr.write.bind(process.stderr);
  let stderr = '';
  process.stderr.write = ((s: string | Uint8Array) => { stderr += String(s); return true; }) as typeof process.stderr.write;
  try {
    return { value: await fn(), stderr };
  } finally {
    process.stderr.write = orig;
  }
}

function withDir(fn: (dir: string) => Promise<void> | void) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-jsonlog2-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const parseAll = (text: string): { sip_user_agent: string }[] => {
  assert.ok(text === '' || text.endsWith('\n'), 'ends with a whole line');
  return text.split('\n').slice(0, -1).map((l, i) => {
    try {
      return JSON.parse(l) as { sip_user_agent: string };
    } catch {
      return assert.fail(`line ${i + 1} is not JSON: ${l.slice(0, 80)}…`);
    }
  });
};

describe('JSON log: torn lines and the backlog', { timeout: 60_000 }, () => {
  test('a real partial write (short write, then EFBIG under ulimit -f) is cut back to the last whole line', withDir((dir) => {
    const path = join(dir, 'log');
    const child = fileURLToPath(new URL('./json-log-child.ts', import.meta.url));
    // 8 KiB: the first batch (2 lines of ~700 B) fits, the second (10 more) crosses the limit part-way through a line.
    const r = spawnSync('bash', ['-c', 'ulimit -f 8 && exec "$0" --import tsx "$@"', process.execPath, child, path], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim()) as { afterPartial: Record<string, number>; final: Record<string, number> };
    const recs = parseAll(readFileSync(path, 'utf8'));
    const size = statSync(path).size;
    assert.ok(size < 8192, `cut back below the limit (${size})`);
    assert.ok(recs.length >= 3 && recs.length < 12, `${recs.length} whole lines`);
    assert.deepEqual(recs.map((x) => x.sip_user_agent), [...['a-0', 'a-1'], ...Array.from({ length: recs.length - 2 }, (_, i) => `b-${i}`)]);
    assert.equal(out.afterPartial.delivered, recs.length, 'the whole lines written count as delivered');
    assert.ok(out.afterPartial.errors >= 1);
    assert.equal(out.afterPartial.dropped, 0, 'the rest is held, not dropped');
    // close() could not write the rest either: now it is lost, and counted.
    assert.equal(out.final.dropped, 12 - recs.length);
    // The next writer appends on a line boundary.
    const { c, context } = counter();
    const o = createJsonLogObserver({ path }, context);
    const e = makeEvent({ userAgent: 'next' });
    o.observe([e]);
    o.close?.();
    assert.equal(c.delivered, 1);
    assert.equal(parseAll(readFileSync(path, 'utf8')).at(-1)!.sip_user_agent, 'next');
  }));

  test('open cuts a partial last line left by a crash (and says so); a whole-line file is left alone', withDir(async (dir) => {
    const path = join(dir, 'log');
    const whole = toJsonLogLine(makeEvent()) + toJsonLogLine(makeEvent());
    writeFileSync(path, whole + toJsonLogLine(makeEvent()).slice(0, 300));
    const { c, context } = counter();
    const { value: o, stderr } = await quietStderr(() => createJsonLogObserver({ path }, context));
    assert.match(stderr, /sipwarden: warning: json log .*log: removed a partial last line \(300 bytes\)/);
    assert.equal(readFileSync(path, 'utf8'), whole);
    const e = makeEvent();
    o.observe([e]);
    o.close?.();
    assert.equal(readFileSync(path, 'utf8'), whole + toJsonLogLine(e));
    assert.equal(c.delivered, 1);
    // A file that is one torn line: emptied. A clean file: untouched, no warning.
    writeFileSync(path, '{"app_name":"sipw');
    await quietStderr(() => createJsonLogObserver({ path }, counter().context).close?.());
    assert.equal(readFileSync(path, 'utf8'), '');
    writeFileSync(path, whole);
    const quiet = await quietStderr(() => createJsonLogObserver({ path }, counter().context).close?.());
    assert.equal(quiet.stderr, '');
    assert.equal(readFileSync(path, 'utf8'), whole);
  }));

  test('while the file cannot be written, lines are held up to the byte bound (oldest kept, the rest dropped and counted), then written in order', withDir(async (dir) => {
    const path = join(dir, 'log');
    mkdirSync(path); // EISDIR until removed
    const { c, context } = counter();
    const line = toJsonLogLine(makeEvent({ userAgent: 'x-000' }));
    const bound = line.length * 25 + 10; // room for 25 lines
    const { value: o } = await quietStderr(() => createJsonLogObserver({ path, maxBacklogBytes: bound, retryMs: 60_000 }, context));
    const evs = Array.from({ length: 40 }, (_, i) => makeEvent({ userAgent: `x-${String(i).padStart(3, '0')}` }));
    await quietStderr(() => {
      for (let i = 0; i < 40; i += 8) o.observe(evs.slice(i, i + 8));
    });
    assert.equal(c.delivered, 0);
    assert.equal(c.dropped, 15, 'lines past the bound');
    assert.ok(c.errors >= 5);
    rmSync(path, { recursive: true });
    const e = makeEvent({ userAgent: 'later' });
    o.observe([e]);
    o.close?.();
    const uas = parseAll(readFileSync(path, 'utf8')).map((x) => x.sip_user_agent);
    assert.deepEqual(uas, [...evs.slice(0, 25).map((x) => x.userAgent), 'later']);
    assert.equal(c.delivered, 26);
  }));

  test('held lines are written by the timed retry when no new events arrive', withDir(async (dir) => {
    const path = join(dir, 'log');
    mkdirSync(path);
    const { c, context } = counter();
    const { value: o } = await quietStderr(() => createJsonLogObserver({ path, retryMs: 50 }, context));
    const evs = [makeEvent(), makeEvent()];
    await quietStderr(() => o.observe(evs));
    rmSync(path, { recursive: true });
    for (const t0 = Date.now(); c.delivered < 2 && Date.now() - t0 < 10_000;) await new Promise((r) => setTimeout(r, 20));
    assert.equal(readFileSync(path, 'utf8'), evs.map(toJsonLogLine).join(''));
    o.close?.();
    assert.equal(c.dropped, 0);
  }));

  test('a batch larger than the bound is written whole when the disk is fine', withDir((dir) => {
    const path = join(dir, 'log');
    const { c, context } = counter();
    const o = createJsonLogObserver({ path, maxBacklogBytes: 1000 }, context);
    const evs = Array.from({ length: 50 }, () => makeEvent());
    o.observe(evs);
    o.close?.();
    assert.equal(c.delivered, 50);
    assert.equal(c.dropped, 0);
    assert.equal(readFileSync(path, 'utf8'), evs.map(toJsonLogLine).join(''));
  }));

  test('a character device (-l /dev/null) is appended to without the tail check', () => {
    const { c, context } = counter();
    const o = createJsonLogObserver({ path: '/dev/null' }, context);
    o.observe([makeEvent(), makeEvent()]);
    o.close?.();
    assert.deepEqual(c, { delivered: 2, dropped: 0, errors: 0 });
  });
});
