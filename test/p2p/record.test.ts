import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { formatEventTimestamp, newUuid, type CapturedAuth } from '../../src/events/event.js';
import {
  createRecordSigner,
  envelopeForEvent,
  MAX_RECORD_BYTES,
  recordToEvent,
  sharedRecord,
  signRecord,
  validateEnvelope,
  type Envelope,
  type RecordSigner,
} from '../../src/p2p/record.js';
import { sampleEvent } from './helpers.js';

async function newSigner(): Promise<RecordSigner> {
  const key = await generateKeyPair('Ed25519');
  return createRecordSigner(peerIdFromPrivateKey(key).toString(), key.raw);
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const auth: CapturedAuth = {
  header: 'Authorization', scheme: 'Digest', username: '100', realm: 'asterisk', nonce: 'n', uri: 'sip:100@h',
  response: 'r', algorithm: 'MD5', qop: null, nc: null, cnonce: null, opaque: null, password: 'hunter2',
  passwordSource: 'sipvicious_tag', passwordVerified: true,
};

describe('p2p records', async () => {
  const alice = await newSigner();
  const mallory = await newSigner();
  const theirNode = newUuid();
  const ourNode = newUuid();
  const ctx = { ourNodeId: ourNode, ourPeerId: 'us', nowUs: Date.now() * 1000 };

  test('a signed local event validates and becomes a peer event with the origin ids', () => {
    const ev = sampleEvent(theirNode, { auth, sourceVerified: true });
    const env = envelopeForEvent(ev, 'no-credentials', alice);
    const parsed = JSON.parse(env) as Envelope;
    assert.deepEqual(Object.keys(parsed), ['v', 'peer_id', 'payload', 'sig']);
    assert.equal(parsed.peer_id, alice.peerId);
    const v = validateEnvelope(enc(env), { ...ctx, gossipSigner: alice.peerId });
    assert.ok(v.ok, JSON.stringify(v));
    const pe = recordToEvent(v.record, v.signer, v.text);
    assert.equal(pe.origin, 'peer');
    assert.equal(pe.originPeerId, alice.peerId);
    assert.equal(pe.createdByNodeId, theirNode);
    assert.equal(pe.eventUuid, ev.eventUuid);
    assert.equal(pe.eventTimestamp, ev.eventTimestamp);
    assert.equal(pe.eventTimeUs, ev.eventTimeUs);
    assert.equal(pe.sourceIp, ev.sourceIp);
    assert.equal(pe.sipMessage, ev.sipMessage);
    assert.equal(pe.sourceVerified, true);
    assert.equal(pe.auth?.username, '100');
    assert.equal(pe.auth?.password, null, 'default policy strips the password');
    assert.equal(pe.peerEnvelope, env);
  });

  test('share policies: full keeps the password, no-raw drops the message', () => {
    const ev = sampleEvent(theirNode, { auth, sipMessageRaw: Buffer.from([0xff, 0xfe]) });
    assert.equal(sharedRecord(ev, 'full').auth?.password, 'hunter2');
    assert.equal(sharedRecord(ev, 'full').sip_message_base64, '//4=');
    const noCred = sharedRecord(ev, 'no-credentials');
    assert.equal(noCred.auth?.password, null);
    assert.equal(noCred.sip_message, ev.sipMessage);
    const noRaw = sharedRecord(ev, 'no-raw');
    assert.equal(noRaw.auth?.password, null);
    assert.equal(noRaw.sip_message, '');
    assert.equal(noRaw.sip_message_base64, null);
    assert.equal(ev.auth?.password, 'hunter2', 'the event itself is not modified');
  });

  test('a record too big for 64 KiB is shared without its message text', () => {
    const ev = sampleEvent(theirNode, { sipMessage: 'INVITE sip:1@h SIP/2.0\r\n' + 'X: '.padEnd(60_000, 'a') + '\r\n\r\n' });
    const env = envelopeForEvent(ev, 'full', alice);
    assert.ok(Buffer.byteLength(env) <= MAX_RECORD_BYTES);
    const v = validateEnvelope(enc(env), ctx);
    assert.ok(v.ok);
    assert.equal(v.record.sip_message, '');
    assert.equal(v.record.event_uuid, ev.eventUuid);
  });

  /** Signs an arbitrary payload object as alice. */
  const signed = (payload: Record<string, unknown>, signer = alice): Uint8Array => {
    const base = sharedRecord(sampleEvent(theirNode), 'full') as unknown as Record<string, unknown>;
    return enc(signRecord({ ...base, ...payload } as never, signer));
  };
  const reason = (bytes: Uint8Array, extra: Partial<Parameters<typeof validateEnvelope>[1]> = {}): string => {
    const v = validateEnvelope(bytes, { ...ctx, ...extra });
    return v.ok ? 'ok' : v.reason;
  };

  test('every peer-to-peer validation rule rejects with its reason', () => {
    assert.equal(reason(signed({})), 'ok');
    assert.equal(reason(enc('x'.repeat(MAX_RECORD_BYTES + 1))), 'oversize');
    assert.equal(reason(enc('not json')), 'malformed');
    assert.equal(reason(enc('[1]')), 'malformed');
    assert.equal(reason(enc(JSON.stringify({ v: 2, peer_id: alice.peerId, payload: '', sig: 'AA==' }))), 'malformed');
    const good = JSON.parse(Buffer.from(signed({})).toString()) as Envelope;
    assert.equal(reason(enc(JSON.stringify({ ...good, sig: '' }))), 'unsigned');
    assert.equal(reason(enc(JSON.stringify({ v: 1, peer_id: alice.peerId, payload: good.payload }))), 'unsigned');
    // Signature by mallory under alice's name; tampered payload; unknown key type.
    const byMallory = JSON.parse(Buffer.from(signed({}, mallory)).toString()) as Envelope;
    assert.equal(reason(enc(JSON.stringify({ ...byMallory, peer_id: alice.peerId }))), 'bad_signature');
    const tampered = Buffer.from(good.payload, 'base64').toString().replace('203.0.113.7', '203.0.113.8');
    assert.equal(reason(enc(JSON.stringify({ ...good, payload: Buffer.from(tampered).toString('base64') }))), 'bad_signature');
    assert.equal(reason(enc(JSON.stringify({ ...good, peer_id: 'QmNotAnEd25519Id' }))), 'bad_signature');
    // Gossip signer differs from the envelope's signer: someone relays a record as if it were theirs.
    assert.equal(reason(signed({}), { gossipSigner: mallory.peerId }), 'forged_origin');
    assert.equal(reason(signed({ origin: 'peer' })), 'forged_origin');
    assert.equal(reason(signed({ origin_peer_id: mallory.peerId })), 'forged_origin');
    assert.equal(reason(signed({}), { isAllowedPeer: (id) => id === mallory.peerId }), 'peer_not_allowed');
    assert.equal(reason(signed({ source_ip: 7 })), 'bad_key_type');
    assert.equal(reason(signed({ sip_message: null })), 'bad_key_type');
    assert.equal(reason(signed({ source_port: 'x' })), 'bad_key_type');
    assert.equal(reason(signed({ auth: { username: 5 } })), 'bad_key_type');
    assert.equal(reason(signed({ event_uuid: 'nope' })), 'bad_uuid');
    assert.equal(reason(signed({ created_by_node_id: 'nope' })), 'bad_uuid');
    assert.equal(reason(signed({ created_by_node_id: ourNode })), 'own_node_id');
    assert.equal(reason(signed({ source_ip: '999.1.1.1' })), 'bad_ip');
    assert.equal(reason(signed({ event_timestamp: '2026-11-24 17:48:04.008' })), 'bad_timestamp');
    const future = formatEventTimestamp(BigInt(Date.now() + 6 * 60_000) * 1_000_000n);
    assert.equal(reason(signed({ event_timestamp: future })), 'future_timestamp');
    const soon = formatEventTimestamp(BigInt(Date.now() + 4 * 60_000) * 1_000_000n);
    assert.equal(reason(signed({ event_timestamp: soon })), 'ok');
    assert.equal(reason(signed({ collected_method: 'active' })), 'unknown_value');
    assert.equal(reason(signed({ transport_type: 'SCTP' })), 'unknown_value');
    // Our own record served back by a peer is ignored, not held against anyone.
    const v = validateEnvelope(signed({}), { ...ctx, ourPeerId: alice.peerId });
    assert.ok(!v.ok && v.reason === 'own');
  });

  test('property: any change to payload or signature bytes fails verification', () => {
    const env = JSON.parse(Buffer.from(signed({})).toString()) as Envelope;
    const payload = Buffer.from(env.payload, 'base64');
    fc.assert(
      fc.property(fc.nat({ max: payload.length - 1 }), fc.integer({ min: 1, max: 255 }), fc.boolean(), (i, x, inSig) => {
        const p = Buffer.from(payload);
        const s = Buffer.from(env.sig, 'base64');
        if (inSig) s[i % s.length]! ^= x;
        else p[i]! ^= x;
        const bytes = enc(JSON.stringify({ ...env, payload: p.toString('base64'), sig: s.toString('base64') }));
        const v = validateEnvelope(bytes, ctx);
        return !v.ok;
      }),
      { numRuns: 300 },
    );
  });

  test('property: arbitrary bytes never throw and never validate', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }), fc.json().map((j) => enc(j))), (bytes) => {
        const v = validateEnvelope(bytes, ctx);
        return !v.ok;
      }),
      { numRuns: 500 },
    );
  });

  test('user agent from a peer is escaped again', () => {
    const v = validateEnvelope(signed({ sip_user_agent: 'evil\r\nX' }), ctx);
    assert.ok(v.ok);
    assert.equal(recordToEvent(v.record, v.signer, v.text).userAgent, 'evil\\x0d\\x0aX');
  });
});
