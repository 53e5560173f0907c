// Issue 4 item 4 / country and number type from libphonenumber-js max metadata, never guessed, and
// computed once per distinct number.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryStore } from '../../src/store/memory.js';
import { classifyNumber } from '../../src/store/number-intel.js';
import { makeEvent, newMetrics, silent } from './helpers.js';

describe('number intelligence', () => {
  test('vectors', () => {
    assert.deepEqual(classifyNumber('+46812118532'), { country: 'SE', type: 'fixed' });
    assert.equal(classifyNumber('+441383417547').country, 'GB');
    assert.equal(classifyNumber('+441383417547').type, 'fixed');
    assert.deepEqual(classifyNumber('+442079460000'), { country: 'GB', type: 'fixed' });
    assert.deepEqual(classifyNumber('+18005551234'), { country: 'US', type: 'toll_free' });
    assert.deepEqual(classifyNumber('+4915112345678'), { country: 'DE', type: 'mobile' });
    // Unplaceable: never a guess.
    for (const n of ['+15551234567', '100', 'alice', '', '+', '+0123456789', 'NOT_FOUND', '0046812118532', '+4681211853299999999']) {
      assert.deepEqual(classifyNumber(n), { country: null, type: 'unknown' }, n);
    }
  });

  test('number_stats: classified once per distinct number; numbers without e164 stay raw and unknown', async () => {
    const calls: string[] = [];
    const store = createMemoryStore({
      metrics: newMetrics(), logger: silent,
      classifier: (e164) => { calls.push(e164); return classifyNumber(e164); },
    });
    await store.start();
    try {
      for (let b = 0; b < 3; b++) {
        for (let i = 0; i < 50; i++) store.append(makeEvent());
        store.append(makeEvent({ calledNumber: '9011441383417547', calledNumberE164: '+441383417547' }));
        store.append(makeEvent({ calledNumber: 'alice', calledNumberE164: null }));
        store.append(makeEvent({ calledNumber: 'sip:+15551234567;phone-context=x', calledNumberE164: '+15551234567' }));
        await store.flush();
      }
      assert.deepEqual(calls.sort(), ['+15551234567', '+441383417547', '+46812118532']);
      const rows = store.db.prepare('SELECT called_number, called_number_e164, country, number_type, event_count FROM number_stats ORDER BY called_number').all();
      assert.deepEqual(rows, [
        { called_number: '0046812118532', called_number_e164: '+46812118532', country: 'SE', number_type: 'fixed', event_count: 150 },
        { called_number: '9011441383417547', called_number_e164: '+441383417547', country: 'GB', number_type: 'fixed', event_count: 3 },
        { called_number: 'alice', called_number_e164: null, country: null, number_type: 'unknown', event_count: 3 },
        { called_number: 'sip:+15551234567;phone-context=x', called_number_e164: '+15551234567', country: null, number_type: 'unknown', event_count: 3 },
      ]);
    } finally {
      await store.stop();
    }
  });
});
