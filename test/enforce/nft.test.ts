// Pure parts of the nftables backend, no nft needed: countElements (the `firewall status` counts from a listing)
// and the reconcile's fall-back path, driven through a recording exec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countElements, createNftBackend } from '../../src/enforce/nft.js';
import type { BlockEntry } from '../../src/enforce/blockset.js';

const listing = (elements4: string | null): string => `table inet sipwarden {
	comment "managed by sipwarden; elements expire by themselves"
	set blocklist4 {
		type ipv4_addr
		flags timeout
${elements4 === null ? '' : `		elements = { ${elements4} }\n`}	}

	set blocklist6 {
		type ipv6_addr
		flags timeout
		elements = { 2001:db8::1 timeout 1d expires 23h59m58s }
	}
}
`;

test('counts the elements of one set; an empty set is 0; a missing set is null', () => {
  assert.equal(countElements(listing(null), 'blocklist4'), 0);
  assert.equal(countElements(listing('198.51.100.1 timeout 1d expires 23h'), 'blocklist4'), 1);
  const many = Array.from({ length: 5000 }, (_, i) => `10.0.${i >> 8}.${i & 255} timeout 1d expires 23h`);
  // nft wraps long lists over lines after the commas.
  assert.equal(countElements(listing(many.join(',\n\t\t\t     ')), 'blocklist4'), 5000);
  assert.equal(countElements(listing(null), 'blocklist6'), 1);
  assert.equal(countElements(listing(null), 'blocklist9'), null);
});

test('reconcile: when the one-transaction path fails, the slow path still writes every entry of a one-pass view', async () => {
  const now = Date.now();
  const calls: { args: readonly string[]; input: string }[] = [];
  const backend = createNftBackend({
    table: 'swunit', priority: 'filter - 10', scope: 'all', ports: [],
    exec: async (_file, args, input) => {
      calls.push({ args, input: input ?? '' });
      // 1: the fast transaction fails (no owner object: a table of an older sipwarden or none at all);
      // 2: `list table` finds no table; then setup and the elements succeed.
      if (calls.length === 1) return { code: 1, stdout: '', stderr: 'Error: No such file or directory', missing: false };
      if (args.includes('list')) return { code: 1, stdout: '', stderr: 'Error: No such file or directory', missing: false };
      return { code: 0, stdout: '', stderr: '', missing: false };
    },
  });
  function* view(): Generator<BlockEntry> {
    yield { ip: '198.51.100.1', family: 4, expiresAtMs: now + 60_000, lastHitMs: now };
    yield { ip: '2001:db8::1', family: 6, expiresAtMs: now + 60_000, lastHitMs: now };
  }
  await backend.reconcile(view(), now);
  assert.match(calls[0]!.input, /^delete counter inet swunit sipwarden_owner\n/);
  const last = calls[calls.length - 1]!.input;
  assert.match(last, /add element inet swunit blocklist4 \{ 198\.51\.100\.1 timeout 60s \}/);
  assert.match(last, /add element inet swunit blocklist6 \{ 2001:db8::1 timeout 60s \}/);
  assert.ok(calls.some((c) => /add counter inet swunit sipwarden_owner/.test(c.input) && !/delete counter/.test(c.input)), 'setup adds the owner object');
});
