// Replies are built from pieces encoded once per request, and their size is known before they are built: both equal
// the one-piece encoding for any echoed text (multi-byte and lone surrogates included); a UDP reply that no
// datagram can carry is never built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildResponse, largeEcho, responseByteLength, type ResponseBase, type ResponseSpec } from '../../src/sip/responder/message.js';
import { REASONS } from '../../src/sip/responder/profiles.js';
import { counter, harness } from './harness.js';

const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.constantFrom('', '\u2028', '\uD800', 'é'.repeat(50)));

/** The response text in one piece, as the responder first built it. */
function reference(base: ResponseBase, spec: ResponseSpec): string {
  let out = `SIP/2.0 ${spec.status} ${REASONS[spec.status] ?? 'Unknown'}\r\n`;
  for (const v of base.vias) out += `Via: ${v}\r\n`;
  out += `From: ${base.from}\r\nTo: ${spec.toTag !== null && !base.toHasTag ? `${base.to};tag=${spec.toTag}` : base.to}\r\n`;
  out += `Call-ID: ${base.callId}\r\nCSeq: ${base.cseq}\r\n`;
  for (const [k, v] of spec.extra ?? []) out += `${k}: ${v}\r\n`;
  for (const [k, v] of spec.capabilities ?? []) out += `${k}: ${v}\r\n`;
  return `${out}Server: ${spec.server}\r\nContent-Length: 0\r\n\r\n`;
}

test('responseByteLength and buildResponse equal the one-piece encoding of the response (property)', () => {
  const base = fc.record({
    vias: fc.array(text, { maxLength: 4 }),
    from: text,
    to: text,
    toHasTag: fc.boolean(),
    callId: text,
    cseq: text,
  });
  const pair = fc.tuple(text, text);
  const spec = fc.record({
    status: fc.constantFrom(100, 180, 200, 401, 403, 404, 407, 486, 999),
    toTag: fc.option(text, { nil: null }),
    extra: fc.option(fc.array(pair, { maxLength: 3 }), { nil: undefined }),
    capabilities: fc.option(fc.array(pair, { maxLength: 3 }), { nil: undefined }),
    server: text,
  });
  fc.assert(
    fc.property(base, spec, fc.boolean(), (b0: ResponseBase, s, large) => {
      // Both ways of building: whole (ordinary requests) and from pieces encoded once (a long echo).
      const b = large ? { ...b0, callId: 'c'.repeat(3000) + b0.callId } : b0;
      assert.equal(largeEcho(b), large || largeEcho(b0));
      const sp: ResponseSpec = { status: s.status, toTag: s.toTag, server: s.server, ...(s.extra ? { extra: s.extra } : {}), ...(s.capabilities ? { capabilities: s.capabilities } : {}) };
      const built = buildResponse(b, sp);
      assert.equal(responseByteLength(b, sp), built.length);
      assert.ok(built.equals(Buffer.from(reference(b, sp), 'utf8')), 'pieces encode as the whole text would');
    }),
    { numRuns: 1000 },
  );
});

test('a UDP reply bigger than a datagram is neither built nor sent, and is counted; over TCP it is sent', async () => {
  // A request just under the 65,535-byte limit made of echoed headers: its reply (the echo plus the status line,
  // To-tag, capabilities and Server) cannot fit the largest UDP payload (65,507 bytes).
  const vias = Array.from({ length: 8 }, (_, i) => `Via: SIP/2.0/UDP 198.51.100.23:5099;branch=z9hG4bK-v${i};x=${'x'.repeat(8000)}\r\n`).join('');
  const head = (callId: string): string =>
    `OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.23:5099;branch=z9hG4bK-top;rport\r\n${vias}` +
    `From: <sip:a@198.51.100.23>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;
  const req = head('c'.repeat(65_500 - Buffer.byteLength(head(''))));
  assert.equal(Buffer.byteLength(req), 65_500);
  const udp = harness('freepbx');
  const { reply } = udp.send(req, { transport: 'UDP' });
  assert.equal(reply.sent.length, 0);
  assert.equal(await counter(udp.metrics.sipRepliesOversize), 1);
  const tcp = harness('freepbx');
  const r2 = tcp.send(req, { transport: 'TCP' });
  assert.equal(r2.reply.sent.length, 1);
  assert.ok(r2.reply.sent[0]!.length > 65_507);
  assert.equal(await counter(tcp.metrics.sipRepliesOversize), 0);
});
