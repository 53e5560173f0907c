/** SentryPeer's OpenDHT value format: what we publish, and the strict validation of what we receive. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatEventTimestamp, newUuid } from '../../src/events/event.js';
import { opendhtBootstrapHosts, valueToEvent } from '../../src/p2p/opendht/engine.js';
import { MAX_VALUE_BYTES, parseSentryPeerValue, SENTRYPEER_KEYS, toSentryPeerValue } from '../../src/p2p/opendht/value.js';
import { sampleEvent } from './helpers.js';

const OUR = '11111111-2222-4333-8444-555555555555';
const nowUs = Date.now() * 1000;
const enc = (o: unknown): Buffer => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o));

/** A value exactly as a SentryPeer node publishes it. */
function spValue(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    app_name: 'sentrypeer', app_version: 'v4.0.4', event_timestamp: formatEventTimestamp(BigInt(Date.now()) * 1_000_000n),
    event_uuid: newUuid(), created_by_node_id: 'a6f1f5c2-3c1e-4f47-9d0e-0c8f5b2b9d11', collected_method: 'responsive',
    transport_type: 'UDP', source_ip: '198.51.100.7', destination_ip: '192.0.2.10', called_number: '0046812118532',
    sip_method: 'INVITE', sip_user_agent: 'friendly-scanner', sip_message: 'INVITE sip:0046812118532@192.0.2.10 SIP/2.0\r\n\r\n',
    ...over,
  };
}

describe('OpenDHT value format', () => {
  it('publishes the JSON log\'s first 13 keys, in SentryPeer\'s order, all strings', () => {
    const v = toSentryPeerValue(sampleEvent('a6f1f5c2-3c1e-4f47-9d0e-0c8f5b2b9d11'));
    assert.deepEqual(Object.keys(v), [...SENTRYPEER_KEYS]);
    for (const k of SENTRYPEER_KEYS) assert.equal(typeof v[k], 'string', k);
    const back = parseSentryPeerValue(enc(v), { ourNodeId: OUR, nowUs });
    assert.ok(back.ok);
    assert.deepEqual(back.value, { ...v, event_uuid: v.event_uuid.toLowerCase() });
  });

  it('accepts a SentryPeer value, a trailing NUL, and extra keys', () => {
    assert.ok(parseSentryPeerValue(enc(spValue()), { ourNodeId: OUR, nowUs }).ok);
    assert.ok(parseSentryPeerValue(Buffer.concat([enc(spValue()), Buffer.from([0])]), { ourNodeId: OUR, nowUs }).ok);
    assert.ok(parseSentryPeerValue(enc(spValue({ extra: 1 })), { ourNodeId: OUR, nowUs }).ok);
  });

  const cases: [string, Buffer, string][] = [
    ['malformed JSON', enc('{"app_name": '), 'malformed'],
    ['not an object', enc('[1,2]'), 'malformed'],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), 'malformed'],
    ['a number where a string belongs', enc(spValue({ source_ip: 3325256711 })), 'bad_key_type'],
    ['a missing key', enc({ ...spValue(), sip_message: undefined }), 'bad_key_type'],
    ['1 MB value', enc(spValue({ sip_message: 'x'.repeat(1_000_000) })), 'oversize'],
    ['a 2 KB user agent', enc(spValue({ sip_user_agent: 'u'.repeat(2048) })), 'field_too_long'],
    ['a bad UUID', enc(spValue({ event_uuid: 'not-a-uuid' })), 'bad_uuid'],
    ['a bad source IP', enc(spValue({ source_ip: '999.1.1.1' })), 'bad_ip'],
    ['a bad destination IP', enc(spValue({ destination_ip: 'example.com' })), 'bad_ip'],
    ['a timestamp of another form', enc(spValue({ event_timestamp: '2026-12-04T10:00:00Z' })), 'bad_timestamp'],
    ['a far-future timestamp', enc(spValue({ event_timestamp: '2099-01-01 00:00:00.000000000' })), 'future_timestamp'],
    ['a stale timestamp', enc(spValue({ event_timestamp: '2001-01-01 00:00:00.000000000' })), 'stale_timestamp'],
    ['an unknown transport', enc(spValue({ transport_type: 'SCTP' })), 'unknown_value'],
    ['a method that is no token', enc(spValue({ sip_method: 'IN VITE' })), 'unknown_value'],
  ];
  for (const [name, bytes, reason] of cases) {
    it(`rejects ${name} (${reason})`, () => {
      const r = parseSentryPeerValue(bytes, { ourNodeId: OUR, nowUs });
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.reason, reason);
    });
  }

  it('ignores our own values', () => {
    const r = parseSentryPeerValue(enc(spValue({ created_by_node_id: OUR.toUpperCase() })), { ourNodeId: OUR, nowUs });
    assert.ok(!r.ok && r.reason === 'own_node_id' && r.ignore === true);
  });

  it('never throws, whatever the bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (b) => {
        parseSentryPeerValue(b, { ourNodeId: OUR, nowUs });
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...SENTRYPEER_KEYS), fc.oneof(fc.string(), fc.integer(), fc.constant(null))), (o) => {
        const r = parseSentryPeerValue(enc(o), { ourNodeId: OUR, nowUs });
        if (r.ok) for (const k of SENTRYPEER_KEYS) assert.equal(typeof r.value[k], 'string');
      }),
      { numRuns: 2000 },
    );
    assert.ok(MAX_VALUE_BYTES >= 64 * 1024);
  });

  it('stores a value as the sender sent it: origin opendht, never verified, no envelope', () => {
    const r = parseSentryPeerValue(enc(spValue({ sip_user_agent: 'evil\u001b[31m' })), { ourNodeId: OUR, nowUs });
    assert.ok(r.ok);
    const e = valueToEvent(r.value, r.timeUs);
    assert.equal(e.origin, 'opendht');
    assert.equal(e.sourceVerified, false);
    assert.equal(e.peerEnvelope, null);
    assert.equal(e.collectedMethod, 'responsive');
    assert.equal(e.createdByNodeId, 'a6f1f5c2-3c1e-4f47-9d0e-0c8f5b2b9d11');
    assert.ok(!e.userAgent.includes('\u001b'));
  });

  it('reads -b values as OpenDHT bootstrap hosts', () => {
    assert.deepEqual(opendhtBootstrapHosts(['bootstrap.sentrypeer.org', '10.0.0.1:4333', '[::1]:5000', '[::1]', '/ip4/1.2.3.4/tcp/1'], 4222), [
      { host: 'bootstrap.sentrypeer.org', port: 4222 },
      { host: '10.0.0.1', port: 4333 },
      { host: '::1', port: 5000 },
      { host: '::1', port: 4222 },
    ]);
  });
});
