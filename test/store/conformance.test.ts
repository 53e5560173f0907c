// EventStore conformance suite: the same checks on a sqlite file with the worker writer, a sqlite
// file with the main-thread writer, and sqlite `:memory:`.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { HoneypotEvent } from '../../src/events/event.js';
import { createMemoryStore } from '../../src/store/memory.js';
import type { SqliteEventStore } from '../../src/store/sqlite.js';
import { batchCount, makeEvent, newMetrics, openStore, silent, tempDir, waitUntil } from './helpers.js';
import type { Metrics } from '../../src/metrics.js';

interface Made { store: SqliteEventStore; metrics: Metrics; path: string | null }

const tmp = tempDir();
after(() => tmp.cleanup());
let n = 0;

const backends: { name: string; make: () => Made }[] = [
  { name: 'sqlite file, worker writer', make: () => { const path = join(tmp.dir, `w${n++}.db`); return { ...openStore(path, { writer: 'worker' }), path }; } },
  { name: 'sqlite file, main-thread writer', make: () => { const path = join(tmp.dir, `m${n++}.db`); return { ...openStore(path, { writer: 'main' }), path }; } },
  { name: 'sqlite :memory:', make: () => { const metrics = newMetrics(); return { store: createMemoryStore({ metrics, logger: silent }), metrics, path: null }; } },
];

type Row = Record<string, unknown>;

function conformance(name: string, make: () => Made): void {
  describe(`EventStore conformance: ${name}`, { timeout: 60_000 }, () => {
    test('append, flush and read back every honey column, raw BLOB, credentials and peer records', async () => {
      const { store } = make();
      await store.start();
      try {
        assert.match(store.nodeId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        const raw = Buffer.from([0x49, 0x4e, 0xff, 0xfe, 0x00, 0x0d, 0x0a]);
        const a = makeEvent({
          sipMessageRaw: raw, sipMessage: 'IN\ufffd\ufffd\u0000\r\n', transport: 'TCP', sourceVerified: true,
          sourceCountry: 'SE', sourceCity: 'Stockholm', responseCode: 403, sourcePort: 40000, destinationPort: 5061,
          destinationIp: '::1', sourceIp: '2001:db8::1',
          auth: {
            header: 'Authorization', scheme: 'Digest', username: '100', realm: 'asterisk', nonce: 'n1', uri: 'sip:100@h',
            response: '0123456789abcdef0123456789abcdef', algorithm: 'MD5', qop: 'auth', nc: '00000001', cnonce: 'c1',
            opaque: 'o1', password: 'password', passwordSource: 'sipvicious_tag', passwordVerified: true,
          },
        });
        const b = makeEvent({
          origin: 'peer', originPeerId: '12D3KooWPeer', peerEnvelope: '{"signed":true}', responseCode: null,
          calledNumber: 'NOT_FOUND', calledNumberE164: null, requestUriUser: null, toUser: null, userAgent: 'NOT_FOUND',
          auth: { header: 'Proxy-Authorization', scheme: 'Digest', username: 'x', realm: null, nonce: null, uri: null, response: null,
            algorithm: null, qop: null, nc: null, cnonce: null, opaque: null, password: null, passwordSource: null, passwordVerified: null },
          sourcePort: null, destinationPort: null,
        });
        store.append(a);
        store.append(b);
        // Duplicate peer envelope (same uuid) must not fail the batch.
        store.append({ ...b, eventUuid: b.eventUuid, peerEnvelope: '{"dup":true}' });
        await store.flush();
        const rows = store.db.prepare('SELECT * FROM honey ORDER BY honey_id').all() as Row[];
        assert.equal(rows.length, 3);
        const check = (r: Row, e: HoneypotEvent): void => {
          assert.deepEqual(
            {
              event_timestamp: r.event_timestamp, event_uuid: r.event_uuid, collected_method: r.collected_method,
              source_ip: r.source_ip, called_number: r.called_number, transport_type: r.transport_type, method: r.method,
              user_agent: r.user_agent, sip_message: r.sip_message, created_by_node_id: r.created_by_node_id,
              destination_ip: r.destination_ip, source_port: r.source_port, destination_port: r.destination_port,
              called_number_e164: r.called_number_e164, request_uri_user: r.request_uri_user, to_user: r.to_user,
              event_time_us: r.event_time_us, origin: r.origin, origin_peer_id: r.origin_peer_id, response_code: r.response_code,
              sip_message_raw: r.sip_message_raw, source_country: r.source_country, source_city: r.source_city,
              source_verified: r.source_verified,
            },
            {
              event_timestamp: e.eventTimestamp, event_uuid: e.eventUuid, collected_method: e.collectedMethod,
              source_ip: e.sourceIp, called_number: e.calledNumber, transport_type: e.transport, method: e.method,
              user_agent: e.userAgent, sip_message: e.sipMessage, created_by_node_id: e.createdByNodeId,
              destination_ip: e.destinationIp, source_port: e.sourcePort, destination_port: e.destinationPort,
              called_number_e164: e.calledNumberE164, request_uri_user: e.requestUriUser, to_user: e.toUser,
              event_time_us: e.eventTimeUs, origin: e.origin, origin_peer_id: e.originPeerId, response_code: e.responseCode,
              sip_message_raw: e.sipMessageRaw, source_country: e.sourceCountry, source_city: e.sourceCity,
              source_verified: e.sourceVerified ? 1 : 0,
            },
          );
          assert.match(String(r.created_at), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/);
        };
        check(rows[0]!, a);
        check(rows[1]!, b);
        assert.ok(Buffer.isBuffer(rows[0]!.sip_message_raw));
        assert.equal(rows[1]!.sip_message_raw, null);

        const creds = store.db.prepare('SELECT * FROM credentials ORDER BY credential_id').all() as Row[];
        assert.equal(creds.length, 3);
        const { credential_id: _id, ...c0 } = creds[0]!;
        assert.deepEqual(c0, {
          honey_id: rows[0]!.honey_id, event_uuid: a.eventUuid, event_time_us: a.eventTimeUs, source_ip: '2001:db8::1',
          source_port: 40000, transport_type: 'TCP', method: 'INVITE', header: 'Authorization', scheme: 'Digest',
          username: '100', realm: 'asterisk', nonce: 'n1', uri: 'sip:100@h', response: '0123456789abcdef0123456789abcdef',
          algorithm: 'MD5', qop: 'auth', nc: '00000001', cnonce: 'c1', opaque: 'o1', user_agent: 'friendly-scanner',
          password: 'password', password_source: 'sipvicious_tag', password_verified: 1,
        });
        assert.equal(creds[1]!.password_verified, null);
        assert.equal(creds[1]!.header, 'Proxy-Authorization');
        const peers = store.db.prepare('SELECT * FROM peer_records').all() as Row[];
        assert.equal(peers.length, 1);
        assert.equal(peers[0]!.envelope, '{"signed":true}');
        assert.equal(peers[0]!.origin_peer_id, '12D3KooWPeer');
      } finally {
        await store.stop();
      }
    });

    test('aggregates: counts, first/last seen, verified flag, number intelligence once per number', async () => {
      const { store } = make();
      await store.start();
      try {
        const base = 1_800_000_000_000_000;
        const ts = (us: number): string => new Date(us / 1000).toISOString().replace('T', ' ').replace('Z', '') + '000000';
        const at = (us: number, over: Partial<HoneypotEvent> = {}): HoneypotEvent =>
          makeEvent({ eventTimeUs: us, eventTimestamp: ts(us), ...over });
        // Out-of-order times within and across batches.
        store.append(at(base + 2_000_000, { sourceIp: '198.51.100.7' }));
        store.append(at(base + 1_000_000, { sourceIp: '198.51.100.7' }));
        store.append(at(base + 5_000_000, { sourceIp: '198.51.100.8', calledNumber: '100', calledNumberE164: null, method: 'REGISTER', userAgent: 'sipsak 0.9.8' }));
        await store.flush();
        store.append(at(base + 3_000_000, { sourceIp: '198.51.100.7', sourceVerified: true, transport: 'TCP' }));
        store.append(at(base + 500_000, { sourceIp: '198.51.100.7' }));
        await store.flush();
        const ip = store.db.prepare("SELECT * FROM ip_stats WHERE ip = '198.51.100.7'").get() as Row;
        assert.equal(ip.event_count, 4);
        assert.equal(ip.first_seen_us, base + 500_000);
        assert.equal(ip.first_seen, ts(base + 500_000));
        assert.equal(ip.last_seen_us, base + 3_000_000);
        assert.equal(ip.last_seen, ts(base + 3_000_000));
        assert.equal(ip.verified, 1);
        const maxId = (store.db.prepare("SELECT MAX(honey_id) AS m FROM honey WHERE source_ip = '198.51.100.7'").get() as { m: number }).m;
        assert.equal(ip.last_honey_id, maxId);
        const ip8 = store.db.prepare("SELECT * FROM ip_stats WHERE ip = '198.51.100.8'").get() as Row;
        assert.equal(ip8.event_count, 1);
        assert.equal(ip8.verified, 0);

        const num = store.db.prepare("SELECT * FROM number_stats WHERE called_number = '0046812118532'").get() as Row;
        assert.equal(num.event_count, 4);
        assert.equal(num.called_number_e164, '+46812118532');
        assert.equal(num.country, 'SE');
        assert.equal(num.number_type, 'fixed');
        assert.equal(num.first_seen_us, base + 500_000);
        const ext = store.db.prepare("SELECT * FROM number_stats WHERE called_number = '100'").get() as Row;
        assert.deepEqual([ext.called_number_e164, ext.country, ext.number_type, ext.event_count], [null, null, 'unknown', 1]);
        const ua = store.db.prepare('SELECT user_agent, event_count FROM user_agent_stats ORDER BY user_agent').all();
        assert.deepEqual(ua, [{ user_agent: 'friendly-scanner', event_count: 4 }, { user_agent: 'sipsak 0.9.8', event_count: 1 }]);
        const m = store.db.prepare('SELECT method, event_count FROM method_stats ORDER BY method').all();
        assert.deepEqual(m, [{ method: 'INVITE', event_count: 4 }, { method: 'REGISTER', event_count: 1 }]);
      } finally {
        await store.stop();
      }
    });

    test('hasEvent sees queued and committed events', async () => {
      const { store } = make();
      await store.start();
      try {
        const e = makeEvent();
        assert.equal(store.hasEvent(e.eventUuid), false);
        store.append(e);
        assert.equal(store.hasEvent(e.eventUuid), true); // still queued
        await store.flush();
        assert.equal(store.hasEvent(e.eventUuid), true); // committed
        assert.equal(store.hasEvent(makeEvent().eventUuid), false);
      } finally {
        await store.stop();
      }
    });

    test('1,000 events commit in one transaction; a single event is committed within ~100 ms', async () => {
      const { store, metrics } = make();
      await store.start();
      try {
        const before = await batchCount(metrics);
        for (let i = 0; i < 1000; i++) store.append(makeEvent());
        await store.flush();
        assert.equal((await batchCount(metrics)) - before, 1);
        const t0 = Date.now();
        const e = makeEvent();
        store.append(e);
        const seen = await waitUntil(() => store.db.prepare('SELECT 1 FROM honey WHERE event_uuid = ?').get(e.eventUuid) !== undefined, 2000);
        const elapsed = Date.now() - t0;
        assert.ok(seen, 'single event never committed');
        assert.ok(elapsed >= 50 && elapsed < 1000, `single event committed after ${elapsed} ms`);
        // 2,500 events → 3 transactions of ≤1,000.
        const b2 = await batchCount(metrics);
        for (let i = 0; i < 2500; i++) store.append(makeEvent());
        await store.flush();
        assert.equal((await batchCount(metrics)) - b2, 3);
      } finally {
        await store.stop();
      }
    });

    test('batch hooks run with the honey ids', async () => {
      const { store } = make();
      const seen: number[][] = [];
      store.addBatchHook((db, events, ids) => {
        assert.equal(events.length, ids.length);
        assert.ok(db.inTransaction);
        seen.push([...ids]);
      });
      await store.start();
      try {
        store.append(makeEvent());
        store.append(makeEvent());
        await store.flush();
        await waitUntil(() => seen.length > 0, 1000);
        const ids = (store.db.prepare('SELECT honey_id FROM honey ORDER BY honey_id').all() as { honey_id: number }[]).map((r) => r.honey_id);
        assert.deepEqual(seen.flat(), ids);
      } finally {
        await store.stop();
      }
    });

    test('stop() drains the queue; stop is idempotent; append after stop never throws', async () => {
      const made = make();
      const { store } = made;
      await store.start();
      for (let i = 0; i < 2500; i++) store.append(makeEvent());
      if (made.path === null) {
        // :memory: vanishes on close: a flush promise taken before stop() must resolve (everything committed).
        let flushed = false;
        const p = store.flush().then(() => { flushed = true; });
        await store.stop();
        await p;
        assert.ok(flushed);
      } else {
        await Promise.all([store.stop(), store.stop()]);
        const db = new Database(made.path, { readonly: true });
        assert.equal((db.prepare('SELECT COUNT(*) AS c FROM honey').get() as { c: number }).c, 2500);
        db.close();
      }
      assert.doesNotThrow(() => store.append(makeEvent()));
    });

    if (name.startsWith('sqlite file')) {
      test('node id persists across reopen', async () => {
        const made = make();
        await made.store.start();
        const id = made.store.nodeId;
        made.store.append(makeEvent());
        await made.store.stop();
        const again = openStore(made.path!);
        await again.store.start();
        assert.equal(again.store.nodeId, id);
        assert.equal((again.store.db.prepare('SELECT COUNT(*) AS c FROM honey').get() as { c: number }).c, 1);
        await again.store.stop();
      });
    }
  });
}

for (const b of backends) conformance(b.name, b.make);
