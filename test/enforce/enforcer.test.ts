// The enforcer's ordering around its start-up reconcile (unit test: a recording backend, a minimal block set).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEnforcer } from '../../src/enforce/enforcer.js';
import type { FirewallBackend } from '../../src/enforce/backend.js';
import type { BlockChange, BlockEntry, BlockSet } from '../../src/enforce/blockset.js';
import { createLogger } from '../../src/log.js';

function fakeSet(entries: BlockEntry[]) {
  const listeners = new Set<(c: readonly BlockChange[]) => void>();
  const set = {
    snapshot: () => ({ seq: 1, entries: [...entries] }),
    size: (f: 4 | 6) => entries.filter((e) => e.family === f).length,
    subscribe(l: (c: readonly BlockChange[]) => void) {
      listeners.add(l);
      return () => { listeners.delete(l); };
    },
    publish(c: BlockChange) {
      for (const l of listeners) l([c]);
    },
  };
  return set as unknown as BlockSet & { publish(c: BlockChange): void };
}

test('a change published while the start-up reconcile runs is applied after it, not lost', async () => {
  const now = Date.now();
  const set = fakeSet([{ ip: '198.51.100.1', family: 4, expiresAtMs: now + 60_000, lastHitMs: now }]);
  let release!: () => void;
  const reconciled: string[][] = [];
  const applied: string[] = [];
  const backend = {
    kind: 'nftables',
    async reconcile(entries: Iterable<Readonly<BlockEntry>>) {
      reconciled.push([...entries].map((e) => e.ip));
      await new Promise<void>((r) => { release = r; });
    },
    async apply(changes: readonly BlockChange[]) {
      for (const c of changes) applied.push(`${c.op} ${c.ip}`);
    },
  } as unknown as FirewallBackend;
  const enf = createEnforcer({ backend, blockSet: set, logger: createLogger('silent'), coalesceMs: 0 });
  const started = enf.start();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(reconciled, [['198.51.100.1']]);
  // Published during the reconcile: nothing may run alongside it (one nft at a time)...
  set.publish({ seq: 2, op: 'add', ip: '198.51.100.2', family: 4, expiresAtMs: now + 60_000, lastHitMs: now });
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(applied, []);
  // ...and it is applied once the reconcile is done.
  release();
  await started;
  await enf.idle();
  assert.deepEqual(applied, ['add 198.51.100.2']);
  await enf.stop();
});
