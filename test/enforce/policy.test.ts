import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  bootstrapHost, decideIp, decideNumber, DEFAULT_BLOCK_POLICY, emptyIpFacts, ExclusionReporter, Exclusions,
  interfaceAddresses, urlHost, type BlockPolicy, type IpFacts,
} from '../../src/enforce/policy.js';

const S = 1_000_000;
const NOW = 1_800_000_000 * S;
const policy = (over: Partial<BlockPolicy> = {}): BlockPolicy => ({ ...DEFAULT_BLOCK_POLICY, ...over });

function facts(over: { local?: Partial<IpFacts['local']>; peer?: Partial<IpFacts['peer']> } = {}): IpFacts {
  const f = emptyIpFacts();
  Object.assign(f.local, over.local ?? {});
  Object.assign(f.peer, over.peer ?? {});
  return f;
}

describe('decideIp', () => {
  test('a verified local hit qualifies until last hit + TTL', () => {
    const d = decideIp(facts({ local: { hits: 1, verifiedHits: 1, lastUs: NOW - 10 * S, lastVerifiedUs: NOW - 10 * S } }), policy(), NOW);
    assert.equal(d.qualifies, true);
    assert.equal(d.reason, 'qualifies');
    assert.equal(d.expiresUs, NOW - 10 * S + 86_400 * S);
  });

  test('default policy: unverified hits (forgeable UDP sources) never qualify', () => {
    const f = facts({ local: { hits: 50, verifiedHits: 0, lastUs: NOW - S } });
    const d = decideIp(f, policy(), NOW);
    assert.equal(d.qualifies, false);
    assert.equal(d.reason, 'unverified');
    assert.equal(decideIp(f, policy({ verifiedOnly: false }), NOW).qualifies, true);
  });

  test('the TTL runs from the newest counted hit: an unverified later hit does not extend a verified block', () => {
    const f = facts({ local: { hits: 2, verifiedHits: 1, lastUs: NOW - S, lastVerifiedUs: NOW - 100 * S } });
    const d = decideIp(f, policy({ ttlSeconds: 50 }), NOW);
    assert.equal(d.qualifies, false);
    assert.equal(d.reason, 'expired');
    const u = decideIp(f, policy({ ttlSeconds: 50, verifiedOnly: false }), NOW);
    assert.equal(u.qualifies, true);
    assert.equal(u.expiresUs, NOW + 49 * S);
  });

  test('min hits counts local and peer hits together; peers off ignores peer records', () => {
    const f = facts({
      local: { hits: 1, verifiedHits: 1, lastUs: NOW - S, lastVerifiedUs: NOW - S },
      peer: { hits: 2, verifiedHits: 2, lastUs: NOW, lastVerifiedUs: NOW },
    });
    assert.equal(decideIp(f, policy({ minHits: 3 }), NOW).qualifies, true);
    assert.equal(decideIp(f, policy({ minHits: 3 }), NOW).expiresUs, NOW + 86_400 * S);
    const off = decideIp(f, policy({ minHits: 3, peers: false }), NOW);
    assert.equal(off.qualifies, false);
    assert.equal(off.reason, 'below-min-hits');
    const peerOnly = facts({ peer: { hits: 1, verifiedHits: 1, lastUs: NOW, lastVerifiedUs: NOW } });
    assert.equal(decideIp(peerOnly, policy(), NOW).qualifies, true);
    assert.equal(decideIp(peerOnly, policy({ peers: false }), NOW).reason, 'no-hits');
  });

  test('no hits: no-hits', () => {
    assert.deepEqual(decideIp(emptyIpFacts(), policy(), NOW), { qualifies: false, reason: 'no-hits', countedHits: 0, lastHitUs: null, expiresUs: null });
  });

  test('property: qualifies ⇔ counted ≥ min hits and last counted + TTL > now', () => {
    const hc = fc.record({ hits: fc.nat(5), verifiedHits: fc.nat(5), lastUs: fc.integer({ min: 0, max: 200 }), lastVerifiedUs: fc.integer({ min: 0, max: 200 }) })
      .map((h) => ({ ...h, verifiedHits: Math.min(h.verifiedHits, h.hits), lastUs: h.hits ? h.lastUs * S + NOW - 100 * S : 0, lastVerifiedUs: h.verifiedHits ? h.lastVerifiedUs * S + NOW - 100 * S : 0 }));
    fc.assert(fc.property(hc, hc, fc.boolean(), fc.boolean(), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 200 }), (local, peer, v, p, minHits, ttl) => {
      const pol = policy({ verifiedOnly: v, peers: p, minHits, ttlSeconds: ttl });
      const classes = p ? [local, peer] : [local];
      const counted = classes.reduce((n, c) => n + (v ? c.verifiedHits : c.hits), 0);
      const last = Math.max(0, ...classes.map((c) => (v ? (c.verifiedHits ? c.lastVerifiedUs : 0) : c.hits ? c.lastUs : 0)));
      const want = counted >= minHits && counted > 0 && last + ttl * S > NOW;
      const d = decideIp({ local, peer }, pol, NOW);
      assert.equal(d.qualifies, want);
      if (d.qualifies) assert.equal(d.expiresUs, last + ttl * S);
    }));
  });
});

describe('decideNumber', () => {
  test('needs N distinct sources (verified ones under the default policy)', () => {
    const f = { hits: 10, sources: 3, verifiedSources: 2, lastUs: NOW - S };
    assert.equal(decideNumber(f, policy(), NOW).qualifies, false);
    assert.equal(decideNumber(f, policy(), NOW).reason, 'unverified');
    assert.equal(decideNumber(f, policy({ verifiedOnly: false }), NOW).qualifies, true);
    assert.equal(decideNumber({ ...f, verifiedSources: 3 }, policy(), NOW).qualifies, true);
    assert.equal(decideNumber({ ...f, verifiedSources: 3 }, policy({ numberMinSources: 4 }), NOW).reason, 'below-min-hits');
    assert.equal(decideNumber({ ...f, verifiedSources: 3, lastUs: NOW - 86_400 * S }, policy(), NOW).reason, 'expired');
    assert.equal(decideNumber({ hits: 0, sources: 0, verifiedSources: 0, lastUs: 0 }, policy(), NOW).reason, 'no-hits');
  });
});

describe('Exclusions', () => {
  test('loopback, link-local and unspecified, both families and every text form', () => {
    const x = new Exclusions();
    for (const ip of ['127.0.0.1', '127.9.8.7', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) assert.equal(x.reason(ip), 'loopback', ip);
    for (const ip of ['169.254.1.2', 'fe80::1', 'fe80::1%eth0', 'febf::1']) assert.equal(x.reason(ip), 'link-local', ip);
    for (const ip of ['0.0.0.0', '::']) assert.equal(x.reason(ip), 'unspecified', ip);
    for (const ip of ['198.51.100.7', '2001:db8::7', '10.0.0.1', '126.255.255.255', '128.0.0.1', '169.253.0.1', 'fec0::1']) assert.equal(x.reason(ip), null, ip);
    assert.equal(x.reason('not-an-ip'), 'invalid');
  });

  test('--allow ranges, own addresses, bootstrap, peers and webhook hosts', () => {
    const x = new Exclusions({ allow: ['203.0.113.0/24', '2001:db8:1::/48'], ownAddresses: () => ['192.0.2.10', '2001:DB8::10', 'garbage'] });
    assert.equal(x.reason('203.0.113.99'), 'allow');
    assert.equal(x.reason('2001:db8:1::5'), 'allow');
    assert.equal(x.reason('192.0.2.10'), 'own-address');
    assert.equal(x.reason('2001:db8::10'), 'own-address');
    assert.equal(x.reason('192.0.2.11'), null);
    x.setBootstrap(['198.51.100.1']);
    x.setPeers(['198.51.100.2', '::ffff:198.51.100.3']);
    x.setWebhookHosts(['198.51.100.4']);
    assert.equal(x.reason('198.51.100.1'), 'bootstrap');
    assert.equal(x.reason('198.51.100.2'), 'peer');
    assert.equal(x.reason('198.51.100.3'), 'peer');
    assert.equal(x.reason('198.51.100.4'), 'webhook');
    x.setPeers([]); // a peer that disconnected may be blocked again
    assert.equal(x.reason('198.51.100.2'), null);
  });

  test('own addresses are re-read after the refresh interval', () => {
    let t = 0;
    let own = ['192.0.2.1'];
    let calls = 0;
    const x = new Exclusions({ ownAddresses: () => (calls++, own), ownRefreshMs: 1000, nowMs: () => t });
    assert.equal(x.reason('192.0.2.1'), 'own-address');
    own = ['192.0.2.2'];
    t = 999;
    assert.equal(x.reason('192.0.2.2'), null);
    t = 1000;
    assert.equal(x.reason('192.0.2.2'), 'own-address');
    assert.equal(x.reason('192.0.2.1'), null);
    assert.equal(calls, 2);
  });

  test('a throwing own-address source keeps the previous list', () => {
    let t = 0;
    let fail = false;
    const x = new Exclusions({ ownAddresses: () => { if (fail) throw new Error('x'); return ['192.0.2.1']; }, ownRefreshMs: 1, nowMs: () => t });
    assert.equal(x.reason('192.0.2.1'), 'own-address');
    fail = true;
    t = 10;
    assert.equal(x.reason('192.0.2.1'), 'own-address');
  });

  test('property: every 127/8 and fe80::/10 address is excluded; random public v4 addresses are not', () => {
    const x = new Exclusions();
    fc.assert(fc.property(fc.nat(0xffffff), (n) => x.reason(`127.${n >>> 16}.${(n >>> 8) & 255}.${n & 255}`) === 'loopback'));
    fc.assert(fc.property(fc.integer({ min: 0, max: 0x3f }), fc.nat(0xffff), (a, b) => x.reason(`fe${(0x80 | a).toString(16)}::${b.toString(16)}`) === 'link-local'));
    fc.assert(fc.property(fc.integer({ min: 1, max: 126 }), fc.nat(0xffffff), (a, n) => x.reason(`${a}.${n >>> 16}.${(n >>> 8) & 255}.${n & 255}`) === null));
  });
});

describe('helpers', () => {
  test('interfaceAddresses flattens os.networkInterfaces()', () => {
    assert.deepEqual(interfaceAddresses({ lo: [{ address: '127.0.0.1' }, { address: '::1' }], eth0: [{ address: '192.0.2.5' }], x: undefined }), ['127.0.0.1', '::1', '192.0.2.5']);
  });

  test('bootstrapHost: multiaddrs and host[:port]', () => {
    assert.equal(bootstrapHost('/ip4/198.51.100.1/tcp/4222/p2p/12D3Koo'), '198.51.100.1');
    assert.equal(bootstrapHost('/ip6/2001:db8::1/tcp/4222'), '2001:db8::1');
    assert.equal(bootstrapHost('/dns4/boot.example.com/tcp/4222'), 'boot.example.com');
    assert.equal(bootstrapHost('boot.example.com:4222'), 'boot.example.com');
    assert.equal(bootstrapHost('boot.example.com'), 'boot.example.com');
    assert.equal(bootstrapHost('[2001:db8::2]:4222'), '2001:db8::2');
    assert.equal(bootstrapHost('2001:db8::3'), '2001:db8::3');
    assert.equal(bootstrapHost('/unix/x'), null);
  });

  test('urlHost', () => {
    assert.equal(urlHost('https://hooks.example.com:8443/x'), 'hooks.example.com');
    assert.equal(urlHost('http://[2001:db8::9]:80/'), '2001:db8::9');
    assert.equal(urlHost(null), null);
    assert.equal(urlHost('::bad'), null);
  });

  test('ExclusionReporter logs once per address and counts every record', () => {
    const logged: string[] = [];
    const counted: string[] = [];
    const r = new ExclusionReporter((ip, why) => logged.push(`${ip} ${why}`), (why) => counted.push(why), 2);
    r.note('127.0.0.1', 'loopback');
    r.note('127.0.0.1', 'loopback');
    r.note('::1', 'loopback');
    assert.deepEqual(logged, ['127.0.0.1 loopback', '::1 loopback']);
    assert.equal(counted.length, 3);
    r.note('192.0.2.1', 'own-address'); // bound reached: memory restarts
    assert.equal(logged.length, 3);
  });
});

describe('OpenDHT values in the block policy', () => {
  const dht = (hits: number, lastUs: number): IpFacts => ({ ...facts(), opendht: { hits, verifiedHits: 0, lastUs, lastVerifiedUs: 0 } });
  test('never count unless trusted, and never as proven hits', () => {
    const f = dht(5, NOW - 10 * S);
    assert.equal(decideIp(f, policy({ verifiedOnly: false }), NOW).qualifies, false);
    assert.equal(decideIp(f, policy({ verifiedOnly: false, opendht: true }), NOW).qualifies, true);
    assert.equal(decideIp(f, policy({ verifiedOnly: true, opendht: true }), NOW).reason, 'unverified');
    assert.equal(decideIp(f, policy({ verifiedOnly: false, opendht: true, ttlSeconds: 5 }), NOW).reason, 'expired');
  });
});
