// Hash flooding of the responder's transaction tables: V8 hashes strings longer than 16,383 characters by their
// length only, so keys built from an 8 KiB Call-ID plus an 8 KiB CSeq (no branch) all landed in one bucket and
// every new transaction scanned the whole table (5,000 such keys took 80 s to insert on this machine). Keys are
// now bounded (long ones by digest): 2,000 such requests must cost well under a few seconds of CPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, request } from '../responder/harness.js';
import { parseSipMessage } from '../../src/sip/wire/parse.js';

test('2,000 INVITEs with 8 KiB Call-ID and CSeq and no branch: linear, not quadratic', { timeout: 120_000 }, async () => {
  const h = harness('freepbx', { reflectionFactor: 0 });
  // Both values just under the 8 KiB line budget, so the old key (source|nobranch:Call-ID|CSeq|method) passes
  // 16,383 characters.
  const callPrefix = 'c'.repeat(8174);
  const cseq = '1 INVITE' + ' '.repeat(8171) + 'x';
  const msgs = Array.from({ length: 2000 }, (_, i) => {
    const text = request('INVITE', { callId: callPrefix + String(i).padStart(6, '0'), headers: ['Via: SIP/2.0/UDP 192.0.2.1:5060', `CSeq: ${cseq}`] });
    const r = parseSipMessage(Buffer.from(text));
    assert.ok(r.ok);
    assert.equal(r.msg.headers.find((x) => x.name === 'call-id')?.value.length, 8180);
    assert.equal(r.msg.headers.find((x) => x.name === 'cseq')?.value.length, 8180);
    return r.msg;
  });
  const c0 = process.cpuUsage();
  for (const m of msgs) h.send(m);
  const c = process.cpuUsage(c0);
  const ms = (c.user + c.system) / 1000;
  assert.ok(ms < 5000, `${ms.toFixed(0)} ms CPU for 2,000 requests`);
  await h.responder.stop();
});
