import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createExclusionFeed, peerAddresses, type ExcludedHosts } from '../../src/enforce/exclusion-feed.js';
import { createLogger } from '../../src/log.js';
import type { PeerInfo } from '../../src/p2p/types.js';

const peer = (addresses: string[]): PeerInfo => ({ id: 'x', addresses, connectedSince: null, recordsReceived: 0, recordsRejected: 0, score: 0 });

test('peerAddresses takes the IPs out of multiaddrs', () => {
  assert.deepEqual(peerAddresses([peer(['/ip4/198.51.100.1/tcp/4222', '/ip6/2001:db8::1/tcp/4222/p2p/12D3', '/dns4/x.example/tcp/1'])]), ['198.51.100.1', '2001:db8::1']);
});

test('the feed resolves bootstrap and webhook/OAuth2 hosts, follows connected peers and tells subscribers', async () => {
  const resolved: string[] = [];
  const feed = createExclusionFeed({
    config: {
      allow: [], bootstrap: ['/dns4/boot.example/tcp/4222', '198.51.100.9:4222', 'unresolvable.example'],
      webhookUrl: 'https://hooks.example/x', oauth2ClientId: 'id', oauth2TokenUrl: 'https://[2001:db8::7]/token',
    },
    logger: createLogger('silent'),
    resolve: async (h) => {
      resolved.push(h);
      if (h === 'unresolvable.example') throw new Error('ENOTFOUND');
      return h === 'boot.example' ? ['198.51.100.8', '2001:db8::8'] : h === 'hooks.example' ? ['203.0.113.80'] : [h];
    },
    peerPollMs: 20,
  });
  const seen: ExcludedHosts[] = [];
  feed.subscribe((l) => seen.push(l));
  await feed.start();
  try {
    assert.deepEqual(feed.lists().bootstrap, ['198.51.100.8', '198.51.100.9', '2001:db8::8']);
    assert.deepEqual(feed.lists().webhook, ['2001:db8::7', '203.0.113.80']);
    assert.equal(feed.exclusions.reason('198.51.100.8'), 'bootstrap');
    assert.equal(feed.exclusions.reason('203.0.113.80'), 'webhook');
    let peers = [peer(['/ip4/198.51.100.50/tcp/4222'])];
    feed.setPeerSource(() => peers);
    assert.equal(feed.exclusions.reason('198.51.100.50'), 'peer');
    peers = [];
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(feed.exclusions.reason('198.51.100.50'), null, 'a disconnected peer is no longer excluded');
    assert.deepEqual(seen[0], { bootstrap: [], peers: [], webhook: [] });
    assert.deepEqual(seen.at(-1)!.peers, []);
    assert.ok(seen.some((l) => l.peers.includes('198.51.100.50')));
    assert.equal(feed.exclusions.reason('127.0.0.1'), 'loopback');
  } finally {
    await feed.stop();
    await feed.stop();
  }
});
