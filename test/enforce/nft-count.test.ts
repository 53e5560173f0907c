// countElements reads `firewall status` counts from an `nft list table` listing (pure text; no nft needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countElements } from '../../src/enforce/nft.js';

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
