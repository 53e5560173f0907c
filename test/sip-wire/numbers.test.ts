// E.164 normalisation: every vector of the table, plus the country-code table itself.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { assignedCountryCodes, isValidE164Digits, numberLikeDigits, toE164 } from '../../src/net/numbers.js';

describe('toE164 (the event fields table)', () => {
  const vectors: [string, string | null][] = [
    ['0046812118532', '+46812118532'],
    ['90046812118532', '+46812118532'],
    ['+46%208%20121%20185%2032', '+46812118532'],
    ['00046500729221', '+46500729221'],
    ['81046500729221', '+46500729221'],
    ['981046500729221', '+46500729221'],
    ['9011441383417547', '+441383417547'],
    ['001112125551234', '+12125551234'],
    ['0044-20-7946-0000;phone-context=+44', '+442079460000'],
    ['100', null],
    ['02079460000', null],
    ['76000046850780294', null],
    ['00281234567', null],
    ['alice', null],
    ['NOT_FOUND', null],
  ];
  for (const [input, want] of vectors) test(`${input} → ${want}`, () => assert.equal(toE164(input), want));

  test('more rules', () => {
    assert.equal(toE164('+44 (20) 7946.0000'), '+442079460000');
    assert.equal(toE164('+4420794600001234567'), null); // > 15 digits
    assert.equal(toE164('+123456'), null); // < 7 digits
    assert.equal(toE164('+0441234567'), null); // first digit 0
    assert.equal(toE164('+2801234567'), null); // spare code 28x
    assert.equal(toE164('00870772001799'), '+870772001799'); // non-geographic Inmarsat
    assert.equal(toE164('011441234567890'), '+441234567890');
    assert.equal(toE164('90011441234567890'), '+441234567890');
    assert.equal(toE164('+4+4123456789'), null);
    assert.equal(toE164(''), null);
    assert.equal(toE164('%'), null);
    assert.equal(toE164('4412345678'), null); // no prefix: country code never assumed
  });
  test('number-like helper', () => {
    assert.equal(numberLikeDigits('+1-(415) 555.0123;x'), '+14155550123');
    assert.equal(numberLikeDigits('12a'), null);
  });
});

describe('country codes', () => {
  test('the table equals libphonenumber metadata (geographic + non-geographic)', () => {
    const require = createRequire(import.meta.url);
    const meta = require('libphonenumber-js/metadata.max.json') as {
      country_calling_codes: Record<string, unknown>;
      nonGeographic?: Record<string, unknown>;
    };
    const lib = new Set([...Object.keys(meta.country_calling_codes), ...Object.keys(meta.nonGeographic ?? {})]);
    const ours = assignedCountryCodes();
    assert.deepEqual([...ours].filter((c) => !lib.has(c)), []);
    assert.deepEqual([...lib].filter((c) => !ours.has(c)), []);
    for (const nonGeo of ['800', '808', '870', '878', '881', '882', '883', '888', '979']) assert.ok(ours.has(nonGeo));
  });
  test('country codes are prefix-free, so validity is unambiguous', () => {
    const cc = [...assignedCountryCodes()];
    for (const a of cc) for (const b of cc) if (a !== b) assert.ok(!b.startsWith(a), `${a} prefixes ${b}`);
    assert.equal(isValidE164Digits('12125551234'), true);
    assert.equal(isValidE164Digits('2101234567'), false);
  });
});
