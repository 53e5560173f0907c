/**
 * The shipped deploy/exabgp/exabgp.conf (and exabgp-node-feed.conf, the node-run feed's relay) and deploy/bird/bird.conf agree with the feed's defaults and with each
 * other, and docs/BGP.md states the same figures: a router configured from them accepts the full default set.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS } from '../../src/config/settings.js';
import { BLACKHOLE } from '../../src/bgp/routes.js';
import { NLRI_PER_COMMAND } from '../../src/bgp/routes.js';
import { ROOT } from '../helpers/daemon.js';

const read = (...p: string[]): string => readFileSync(join(ROOT, ...p), 'utf8');
/** The text without `#` comments. */
const code = (s: string): string => s.split('\n').map((l) => l.replace(/#.*$/, '')).join('\n');

describe('shipped BGP configs', () => {
  const bird = code(read('deploy', 'bird', 'bird.conf'));
  const EXA = ['exabgp.conf', 'exabgp-node-feed.conf'];
  const exas = EXA.map((f) => code(read('deploy', 'exabgp', f)));
  const doc = read('docs', 'BGP.md');

  test('BIRD takes the default cap of routes per family, with room to spare', () => {
    const limits = [...bird.matchAll(/import limit (\d+) action block;/g)].map((m) => Number(m[1]));
    assert.equal(limits.length, 2, 'one limit per family');
    for (const l of limits) {
      assert.ok(l > DEFAULTS.bgpMaxRoutes, `import limit ${l} must exceed --bgp-max-routes ${DEFAULTS.bgpMaxRoutes}`);
      assert.ok(l <= DEFAULTS.bgpMaxRoutes * 1.2, `import limit ${l} far above the feed's cap stops nothing`);
      assert.ok(doc.includes(`import limit ${l} action block`), 'docs/BGP.md quotes the shipped limit');
    }
    assert.ok(doc.includes(`default ${DEFAULTS.bgpMaxRoutes.toLocaleString('en-US')}`), 'docs/BGP.md states the default cap');
  });

  test('BIRD discards the default next hops and accepts only host routes tagged BLACKHOLE', () => {
    assert.match(bird, new RegExp(`route ${DEFAULTS.bgpNextHop4.replace(/\./g, '\\.')}/32 blackhole;`));
    assert.match(bird, new RegExp(`route ${DEFAULTS.bgpNextHop6}/128 blackhole;`));
    const [asn, value] = BLACKHOLE.split(':');
    assert.equal(bird.match(new RegExp(`\\(${asn}, ${value}\\) ~ bgp_community`, 'g'))?.length, 2);
    assert.match(bird, /filter rtbh_in4 \{\s*if net\.len != 32 then reject;/);
    assert.match(bird, /filter rtbh_in6 \{\s*if net\.len != 128 then reject;/);
    assert.match(doc, new RegExp(`\`${DEFAULTS.bgpNextHop4.replace(/\./g, '\\.')}\`, \`${DEFAULTS.bgpNextHop6}\``));
  });

  test('the two ends of the session match: addresses and AS numbers, both families', () => {
    const birdLocal = /local (\S+) as (\d+);/.exec(bird);
    const birdPeer = /neighbor (\S+) as (\d+);/.exec(bird);
    assert.ok(birdLocal && birdPeer);
    for (const exa of exas) {
      assert.match(exa, new RegExp(`neighbor ${birdLocal[1]!.replace(/\./g, '\\.')} \\{[^}]*peer-as ${birdLocal[2]};`));
      assert.match(exa, new RegExp(`local-address ${birdPeer[1]!.replace(/\./g, '\\.')};`));
      assert.match(exa, new RegExp(`local-as ${birdPeer[2]};`));
      assert.match(exa, /family \{\s*ipv4 unicast;\s*ipv6 unicast;\s*\}/);
    }
    assert.match(bird, /ipv4 \{[^}]*import filter rtbh_in4;/);
    assert.match(bird, /ipv6 \{[^}]*import filter rtbh_in6;/);
  });

  test('ExaBGP runs the feed as an API process with text encoding and neighbor changes', () => {
    for (const exa of exas) {
      const proc = /process (\S+) \{([^}]*)\}/.exec(exa);
      assert.ok(proc);
      assert.match(proc[2]!, /run \S+ bgp-feed /);
      assert.match(proc[2]!, /encoder text;/);
      assert.match(exa, new RegExp(`processes \\[ ${proc[1]} \\];`));
      assert.match(exa, /neighbor-changes;/);
    }
    assert.match(exas[0]!, /run \S+ bgp-feed --api /);
    assert.match(exas[1]!, /run \S+ bgp-feed --socket /);
  });

  test('the batch size and acknowledgement setting the comments and docs state are the feed\'s', () => {
    for (const f of EXA) {
      const raw = read('deploy', 'exabgp', f);
      assert.match(raw, new RegExp(`at most ${NLRI_PER_COMMAND} prefixes each`));
      assert.match(raw, /exabgp\.api\.ack/);
    }
    assert.match(doc, new RegExp(`at most ${NLRI_PER_COMMAND} prefixes of one family per command`));
  });
});
