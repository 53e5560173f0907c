// Property: any request (fixtures mutated byte-wise and header-wise) gets either well-formed SIP responses or
// nothing from every profile, never an exception and never an internal error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { PROFILES } from '../../src/config/types.js';
import { parseSipMessage } from '../../src/sip/wire/parse.js';
import { SENTRYPEER_CLASSIC_REPLY } from '../../src/sip/responder/profiles.js';
import { counter, harness, recorder, wellFormed } from './harness.js';

import { EDGE_CASES } from '../helpers/sip-edge-cases.js';
import { FIXTURES, readFixture } from '../helpers/sip-fixtures.js';

/** Seeds: every recorded datagram in test/fixtures/sip/ and every hand-made edge case. */
const fixtures = [
  ...readdirSync(fileURLToPath(FIXTURES))
    .filter((f) => f.endsWith('.sip'))
    .map((f) => readFixture(f)),
  ...EDGE_CASES.map((e) => e.bytes),
];

const mutation = fc.oneof(
  // Overwrite a byte with anything (CR, LF, NUL, high bytes included).
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(
    '\r\n', ';rport', ';received=1.2.3.4', ';tag=', ',', 'Via: ', 'To: <sip:100@x>;tag=abc\r\n', 'Authorization: Digest nonce="1/2"\r\n',
    'CSeq: 1 ACK\r\n', 'CSeq: 1 CANCEL\r\n', '"', '<', '>', '\0', '\r', 'v: SIP/2.0/UDP [::1];rport\r\n', 'i: x\r\n',
  ) }),
);

function mutate(buf: Buffer, ms: Array<{ kind: 'set'; at: number; byte: number } | { kind: 'cut'; at: number; len: number } | { kind: 'insert'; at: number; text: string }>): Buffer {
  let b = Buffer.from(buf);
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.kind === 'set') b[at] = m.byte;
    else if (m.kind === 'cut') b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + m.len))]);
    else b = Buffer.concat([b.subarray(0, at), Buffer.from(m.text, 'latin1'), b.subarray(at)]);
  }
  return b;
}

test('property: every profile answers any parsed request with well-formed responses or nothing', async () => {
  const hs = PROFILES.map((p) => ({ p, h: harness(p, { redirectUri: 'sip:x@192.0.2.1', replyRateLimit: 0 }) }));
  let answered = 0;
  let silent = 0;
  fc.assert(
    fc.property(
      fc.nat({ max: fixtures.length - 1 }),
      fc.array(mutation, { maxLength: 6 }),
      fc.constantFrom('UDP', 'TCP', 'TLS' as const),
      fc.boolean(),
      (i, ms, transport, ipv6) => {
        const parsed = parseSipMessage(mutate(fixtures[i]!, ms));
        if (!parsed.ok) return;
        const source = ipv6 ? { ip: '2001:db8::7', port: 5062 } : { ip: '203.0.113.7', port: 5062 };
        for (const { p, h } of hs) {
          const reply = recorder();
          const { outcome } = h.send(parsed.msg, { reply, transport, source, local: ipv6 ? { ip: '::1', port: 5060 } : { ip: '127.0.0.1', port: 5060 } });
          if (reply.sent.length === 0) silent++;
          else answered++;
          for (const b of reply.sent) {
            if (p === 'sentrypeer-classic') assert.deepEqual(b, SENTRYPEER_CLASSIC_REPLY);
            else wellFormed(b.toString('utf8'));
          }
          if (outcome.responseCode !== null) assert.ok(outcome.responseCode >= 200 && outcome.responseCode < 700);
        }
      },
    ),
    { numRuns: 1500 },
  );
  assert.ok(answered > 0 && silent > 0, `both outcomes exercised (${answered}/${silent})`);
  for (const { h } of hs) {
    assert.equal(await counter(h.metrics.internalErrors), 0);
    await h.responder.stop();
  }
});
