/**
 * Issue 4's number table end to end: the called number as a request carries it → parser extraction (raw and E.164)
 * → store → number_stats (country, type), computed once per distinct number.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { createMemoryStore } from '../../src/store/memory.js';
import { extractFields } from '../../src/sip/wire/extract.js';
import { parseSipMessage } from '../../src/sip/wire/parse.js';
import { makeEvent } from './make-event.js';

const CASES: Array<{ ruri: string; raw: string; e164: string | null; country: string | null; type: string | null }> = [
  { ruri: 'sip:0046812118532@198.51.100.1', raw: '0046812118532', e164: '+46812118532', country: 'SE', type: 'fixed' },
  { ruri: 'sip:+46812118532@198.51.100.1', raw: '+46812118532', e164: '+46812118532', country: 'SE', type: 'fixed' },
  { ruri: 'sip:90046812118532@198.51.100.1', raw: '90046812118532', e164: '+46812118532', country: 'SE', type: 'fixed' },
  { ruri: 'sip:9011441383417547@198.51.100.1', raw: '9011441383417547', e164: '+441383417547', country: 'GB', type: 'fixed' },
  { ruri: 'sip:+44-20-7946-0000@198.51.100.1', raw: '+44-20-7946-0000', e164: '+442079460000', country: 'GB', type: 'fixed' },
  // Valid E.164 shape but not a placeable number: stays unknown, never guessed.
  { ruri: 'sip:+15551234567;phone-context=example.com@198.51.100.1;user=phone', raw: '+15551234567;phone-context=example.com', e164: '+15551234567', country: null, type: 'unknown' },
  // An extension and a name are no E.164 numbers at all.
  { ruri: 'sip:100@198.51.100.1', raw: '100', e164: null, country: null, type: 'unknown' },
];

test('called numbers: raw form, E.164, country and number type (once per distinct number)', async () => {
  const store = createMemoryStore({ metrics: new Metrics({ processMetrics: false }), logger: createLogger('silent') });
  await store.start();
  try {
    for (const c of CASES) {
      const msg = `INVITE ${c.ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK1\r\nFrom: <sip:a@203.0.113.7>;tag=1\r\nTo: <sip:100@198.51.100.1>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n`;
      const parsed = parseSipMessage(Buffer.from(msg));
      assert.ok(parsed.ok, c.ruri);
      const f = extractFields(parsed.msg);
      assert.equal(f.calledNumber, c.raw, `${c.ruri}: raw`);
      assert.equal(f.calledNumberE164, c.e164, `${c.ruri}: e164`);
      // Twice: the aggregate counts both, the classification happens once.
      store.append(makeEvent({ calledNumber: f.calledNumber, calledNumberE164: f.calledNumberE164 }));
      store.append(makeEvent({ calledNumber: f.calledNumber, calledNumberE164: f.calledNumberE164 }));
    }
    // A name is not number-like: the To user is the called number, with no E.164 form.
    const alice = parseSipMessage(Buffer.from('INVITE sip:alice@198.51.100.1 SIP/2.0\r\nTo: <sip:alice@198.51.100.1>\r\n\r\n'));
    assert.ok(alice.ok);
    assert.equal(extractFields(alice.msg).calledNumber, 'alice');
    assert.equal(extractFields(alice.msg).calledNumberE164, null);
    await store.flush();
    for (const c of CASES) {
      const row = store.db.prepare('SELECT called_number_e164 AS e164, country, number_type AS type, event_count AS n FROM number_stats WHERE called_number = ?').get(c.raw) as { e164: string | null; country: string | null; type: string; n: number };
      assert.deepEqual(row, { e164: c.e164, country: c.country, type: c.type, n: 2 }, c.ruri);
    }
  } finally {
    await store.stop();
  }
});
