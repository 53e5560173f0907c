import assert from 'node:assert/strict';
import fc from 'fast-check';
import { test } from 'node:test';
import { formatEventTimestamp, newUuid, parseEventTimestamp, receiptTime, type HoneypotEvent } from '../../src/events/event.js';
import { toJsonLogLine, toJsonLogRecord } from '../../src/events/json-log.js';
import { VERSION } from '../../src/version.js';

/** Reference formatting without the per-second cache. */
function reference(ns: bigint): string {
  const iso = new Date(Number(ns / 1_000_000n)).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
}

test('timestamps are UTC with exactly 9 fractional digits, also across the per-second cache', () => {
  assert.equal(formatEventTimestamp(1_795_542_484_008_658_741n), '2026-11-24 17:48:04.008658741');
  assert.equal(formatEventTimestamp(1_795_542_484_000_000_001n), '2026-11-24 17:48:04.000000001');
  fc.assert(
    fc.property(fc.array(fc.bigInt({ min: 0n, max: 4_102_444_800_000_000_000n }), { minLength: 1, maxLength: 20 }), (list) => {
      for (const ns of list) {
        const s = formatEventTimestamp(ns);
        assert.equal(s, reference(ns));
        assert.match(s, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9}$/);
        assert.equal(parseEventTimestamp(s), Number(ns / 1000n));
      }
    }),
  );
  const t = receiptTime();
  assert.equal(parseEventTimestamp(t.eventTimestamp), t.eventTimeUs);
  assert.ok(Math.abs(t.eventTimeUs / 1000 - Date.now()) < 5000);
  assert.equal(parseEventTimestamp('2026-11-24 17:48:04.6076728'), null);
});

test('uuids are lowercase v4', () => {
  assert.match(newUuid(), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  // Across pool refills: unique, always v4/variant 10, and every random nibble position takes all 16 values.
  const seen = new Set<string>();
  const values = Array.from({ length: 36 }, () => new Set<string>());
  for (let k = 0; k < 5000; k++) {
    const u = newUuid();
    assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    seen.add(u);
    for (let c = 0; c < 36; c++) values[c]!.add(u[c]!);
  }
  assert.equal(seen.size, 5000);
  for (let c = 0; c < 36; c++) {
    const expected = [8, 13, 18, 23].includes(c) ? 1 : c === 14 ? 1 : c === 19 ? 4 : 16;
    assert.equal(values[c]!.size, expected, `position ${c}`);
  }
});

const event: HoneypotEvent = {
  eventUuid: '6b1d7a4e-3f3c-4d5e-9a1b-2c3d4e5f6a7b',
  eventTimestamp: '2026-11-24 17:48:04.008658741',
  eventTimeUs: 1_795_542_484_008_658,
  sourceIp: '203.0.113.7',
  sourcePort: 5099,
  destinationIp: '198.51.100.1',
  destinationPort: 5060,
  transport: 'UDP',
  method: 'INVITE',
  requestUriUser: '0046812118532',
  toUser: '100',
  calledNumber: '0046812118532',
  calledNumberE164: '+46812118532',
  userAgent: 'friendly-scanner',
  sipMessage: 'INVITE sip:0046812118532@198.51.100.1 SIP/2.0\r\n\r\n',
  sipMessageRaw: null,
  collectedMethod: 'responsive',
  createdByNodeId: '0c9e6a8e-0000-4000-8000-000000000001',
  origin: 'local',
  originPeerId: null,
  responseCode: 401,
  auth: null,
  sourceVerified: false,
  sourceCountry: null,
  sourceCity: null,
  peerEnvelope: null,
};

test('JSON log: SentryPeer keys 1-13 in order as strings, then ours', () => {
  const rec = toJsonLogRecord(event);
  assert.deepEqual(Object.keys(rec), [
    'app_name', 'app_version', 'event_timestamp', 'event_uuid', 'created_by_node_id', 'collected_method', 'transport_type',
    'source_ip', 'destination_ip', 'called_number', 'sip_method', 'sip_user_agent', 'sip_message',
    'source_port', 'destination_port', 'called_number_e164', 'request_uri_user', 'to_user', 'origin', 'origin_peer_id',
    'response_code', 'auth', 'sip_message_base64', 'source_country', 'source_verified',
  ]);
  for (const k of Object.keys(rec).slice(0, 13)) assert.equal(typeof (rec as unknown as Record<string, unknown>)[k], 'string', k);
  assert.equal(rec.app_name, 'sipwarden');
  assert.equal(rec.app_version, VERSION);
  assert.equal(rec.sip_message_base64, null);
  assert.equal(rec.auth, null);
  assert.equal(rec.source_verified, false);
  const line = toJsonLogLine(event);
  assert.ok(line.endsWith('}\n'));
  assert.equal(line.indexOf('\n'), line.length - 1, 'one line: CR/LF inside values are escaped');
  assert.deepEqual(JSON.parse(line), rec);
});

test('JSON log: raw bytes that are not UTF-8 are carried in base64; auth object without nc/cnonce', () => {
  const raw = Buffer.from([0x4f, 0x50, 0xff, 0xfe, 0x0d, 0x0a]);
  const rec = toJsonLogRecord({
    ...event,
    sipMessage: raw.toString('utf8'),
    sipMessageRaw: raw,
    auth: { header: 'Authorization', scheme: 'Digest', username: '100', realm: 'asterisk', nonce: 'n', uri: 'sip:x', response: 'r', algorithm: 'MD5', qop: null, nc: null, cnonce: null, opaque: null, password: 'pw', passwordSource: 'sipvicious_tag', passwordVerified: true },
  });
  assert.equal(Buffer.from(rec.sip_message_base64!, 'base64').toString('hex'), raw.toString('hex'));
  assert.deepEqual(Object.keys(rec.auth!), ['username', 'realm', 'uri', 'nonce', 'response', 'algorithm', 'password']);
  assert.equal(rec.auth!.password, 'pw');
});
