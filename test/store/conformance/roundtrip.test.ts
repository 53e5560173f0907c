// Conformance: every field of an event written through EventStore.append comes back through the API's read
// queries (events with the message, credentials), unchanged — unicode, edge numbers, nulls and IPv6 included.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { HoneypotEvent } from '../../../src/events/event.js';
import { rfc3339 } from '../../../src/text/time.js';
import { makeEvent } from '../helpers.js';
import { BACKENDS } from './backends.js';

/** The `/api/v1/events` item an event must read back as (the API names its fields this way). */
function expectedItem(e: HoneypotEvent): Record<string, unknown> {
  return {
    event_uuid: e.eventUuid, event_time: rfc3339(e.eventTimeUs), event_timestamp: e.eventTimestamp,
    source_ip: e.sourceIp, source_port: e.sourcePort, destination_ip: e.destinationIp, destination_port: e.destinationPort,
    transport: e.transport, method: e.method, request_uri_user: e.requestUriUser, to_user: e.toUser,
    called_number: e.calledNumber, called_number_e164: e.calledNumberE164, user_agent: e.userAgent,
    collected_method: e.collectedMethod, created_by_node_id: e.createdByNodeId, origin: e.origin,
    origin_peer_id: e.originPeerId, response_code: e.responseCode, source_verified: e.sourceVerified,
    source_country: e.sourceCountry, source_city: e.sourceCity, source_asn: e.sourceAsn ?? null,
    source_org: e.sourceOrg ?? null, sip_message: e.sipMessage,
  };
}

const NODE = '7d0c9a8e-1f2b-4c3d-8e9f-0a1b2c3d4e5f';

/** Events with every field set, covering edge values of each. */
function edgeEvents(): HoneypotEvent[] {
  const unicode = 'Ünïcødé 电话 📞 \u202e rtl \u0000 nul';
  return [
    makeEvent({
      sourceIp: '2001:db8::dead:beef', destinationIp: '::1', sourcePort: 65535, destinationPort: 1, transport: 'TLS',
      method: 'REGISTER', requestUriUser: unicode, toUser: 'to\u00e9', calledNumber: '+4915112345678',
      calledNumberE164: '+4915112345678', userAgent: `UA ${unicode}`, sipMessage: `REGISTER sip:x SIP/2.0\r\nX: ${unicode}\r\n\r\n`,
      collectedMethod: 'passive', createdByNodeId: NODE, origin: 'local', responseCode: 699, sourceVerified: true,
      sourceCountry: 'JP', sourceCity: 'Tōkyō', sourceAsn: 4294967295, sourceOrg: 'Ōrg “quoted” \'s',
      auth: {
        header: 'Proxy-Authorization', scheme: 'Digest', username: 'üser', realm: 'realm"q', nonce: 'n'.repeat(300),
        uri: 'sip:100@[::1]', response: '0123456789abcdef0123456789abcdef', algorithm: 'SHA-256', qop: 'auth-int',
        nc: 'ffffffff', cnonce: 'c', opaque: 'o', password: 'pässwörd 🔑', passwordSource: 'sipvicious_tag', passwordVerified: false,
      },
    }),
    makeEvent({
      sourceIp: '0.0.0.0', sourcePort: null, destinationPort: null, transport: 'UDP', method: 'OPTIONS',
      requestUriUser: null, toUser: null, calledNumber: 'NOT_FOUND', calledNumberE164: null, userAgent: 'NOT_FOUND',
      sipMessage: '', responseCode: null, sourceVerified: false, sourceCountry: null, sourceCity: null,
      sourceAsn: null, sourceOrg: null, origin: 'peer', originPeerId: '12D3KooWQ9Zq', peerEnvelope: '{"e":1}',
      collectedMethod: 'responsive', createdByNodeId: NODE, auth: null,
    }),
    makeEvent({
      sourceIp: '255.255.255.255', sourcePort: 0, destinationPort: 0, transport: 'TCP', method: 'X-ÜNKNOWN',
      calledNumber: '', calledNumberE164: null, userAgent: '', responseCode: 100, origin: 'opendht', createdByNodeId: NODE,
      eventTimeUs: 1, eventTimestamp: '1970-01-01 00:00:00.000001',
      auth: {
        header: 'Authorization', scheme: 'Basic', username: null, realm: null, nonce: null, uri: null, response: null,
        algorithm: null, qop: null, nc: null, cnonce: null, opaque: null, password: null, passwordSource: null, passwordVerified: null,
      },
    }),
    makeEvent({ sipMessage: 'M'.repeat(200_000), createdByNodeId: NODE, eventTimeUs: 4_102_444_800_000_000 - 1 }),
  ];
}

for (const backend of BACKENDS) {
  describe(`conformance round trip: ${backend.name}`, { timeout: 30_000 }, () => {
    test('every event field reads back through the read queries, in order', async () => {
      const s = await backend.open();
      try {
        const events = edgeEvents();
        for (const e of events) s.store.append(e);
        await s.store.flush();
        const page = s.reader.events({ order: 'asc', limit: 100, includeMessage: true });
        assert.equal(page.next_cursor, null);
        const byUuid = new Map(page.items.map((i) => [i.event_uuid, i]));
        assert.equal(byUuid.size, events.length);
        for (const e of events) {
          const got = { ...byUuid.get(e.eventUuid) };
          assert.equal(typeof got.id, 'number');
          delete got.id;
          assert.deepEqual(got, expectedItem(e), e.eventUuid);
        }
        // Ascending time order, oldest (1 µs after the epoch) first.
        assert.deepEqual(page.items.map((i) => i.event_uuid), [...events].sort((a, b) => a.eventTimeUs - b.eventTimeUs).map((e) => e.eventUuid));
        // hasEvent sees stored events, and only those.
        for (const e of events) assert.equal(s.store.hasEvent(e.eventUuid), true);
        assert.equal(s.store.hasEvent('00000000-0000-4000-8000-00000000dead'), false);
      } finally {
        await s.close();
      }
    });

    test('captured credentials read back field for field; events without auth have none', async () => {
      const s = await backend.open();
      try {
        const events = edgeEvents();
        for (const e of events) s.store.append(e);
        await s.store.flush();
        const page = s.reader.credentials({ limit: 100 });
        const withAuth = events.filter((e) => e.auth !== null);
        assert.equal(page.items.length, withAuth.length);
        for (const e of withAuth) {
          const c = page.items.find((i) => i.event_uuid === e.eventUuid);
          assert.ok(c, `credential of ${e.eventUuid}`);
          const a = e.auth!;
          assert.deepEqual(
            { ...c, id: 0 },
            {
              id: 0, event_uuid: e.eventUuid, event_time: rfc3339(e.eventTimeUs), source_ip: e.sourceIp, source_port: e.sourcePort,
              transport: e.transport, method: e.method, header: a.header, scheme: a.scheme, username: a.username, realm: a.realm,
              uri: a.uri, nonce: a.nonce, response: a.response, algorithm: a.algorithm, qop: a.qop, user_agent: e.userAgent,
              password: a.password, password_source: a.passwordSource, password_verified: a.passwordVerified,
            },
          );
        }
        // Filter by username reaches the unicode one only.
        assert.deepEqual(s.reader.credentials({ limit: 10, username: 'üser' }).items.map((i) => i.event_uuid), [events[0]!.eventUuid]);
      } finally {
        await s.close();
      }
    });

    test('filters of the events query select by the stored values (IPv6 CIDR, number prefix, origin, verified, country, ASN)', async () => {
      const s = await backend.open();
      try {
        const events = edgeEvents();
        for (const e of events) s.store.append(e);
        await s.store.flush();
        const uuids = (q: Parameters<typeof s.reader.events>[0]): unknown[] => s.reader.events(q).items.map((i) => i.event_uuid);
        const base = { order: 'asc' as const, limit: 100 };
        assert.deepEqual(uuids({ ...base, source: { cidr: '2001:db8::/32' } }), [events[0]!.eventUuid]);
        assert.deepEqual(uuids({ ...base, number: '+49151' }), [events[0]!.eventUuid]);
        assert.deepEqual(uuids({ ...base, origin: 'peer' }), [events[1]!.eventUuid]);
        assert.deepEqual(uuids({ ...base, verified: true }), [events[0]!.eventUuid]);
        assert.deepEqual(uuids({ ...base, country: 'JP', asn: 4294967295 }), [events[0]!.eventUuid]);
        assert.deepEqual(uuids({ ...base, methods: ['X-ÜNKNOWN'], transports: ['TCP'] }), [events[2]!.eventUuid]);
        assert.deepEqual(uuids({ ...base, sinceUs: 0, untilUs: 2 }), [events[2]!.eventUuid]);
      } finally {
        await s.close();
      }
    });
  });
}
