// Regressions for the two backtracking defects of the hardening issue: the top-Via sent-by read (cubic on a run
// of spaces ended by U+2028) and the digest parser's trailing-whitespace trim (quadratic on a run of spaces).
// Each exact payload must be handled in well under a millisecond-scale bound; before the fix the first one
// blocked the event loop for over a minute.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { sentByHost, fixTopVia } from '../../src/sip/responder/message.js';
import { parseAuthHeader } from '../../src/sip/responder/digest.js';
import { parseVia } from '../../src/sip/wire/headers.js';
import { extractCredentials } from '../../src/sip/responder/credentials.js';
import { harness, parse, request } from '../responder/harness.js';

/** Minimum wall time of `reps` calls, in ms (the machine is shared: the minimum is the honest cost). */
function minMs(fn: () => unknown, reps = 3): number {
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

const VIA_ATTACK = 'SIP/2.0/UDP' + ' '.repeat(8150) + '\u2028';
const DIGEST_ATTACK = 'Digest username=x' + ' '.repeat(8000) + 'y';

describe('Via sent-by read is linear', () => {
  test('the exact payload (8,150 spaces + U+2028) in the sent-by reader and parseVia', () => {
    assert.ok(minMs(() => sentByHost(VIA_ATTACK)) < 5);
    assert.ok(minMs(() => parseVia(VIA_ATTACK)) < 5);
    assert.ok(minMs(() => fixTopVia(VIA_ATTACK + ';rport', '127.0.0.1', 4000)) < 5);
    // Same answers as the regular expression it replaces: a line separator in the sent-by means "not a Via".
    assert.equal(sentByHost(VIA_ATTACK), null);
    assert.equal(parseVia(VIA_ATTACK), null);
  });

  test('a whole OPTIONS carrying it is answered quickly by the responder', async () => {
    const h = harness();
    const text = request('OPTIONS', { headers: [`Via: ${VIA_ATTACK};branch=z9hG4bKx`] });
    let ms = Infinity;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      h.send(text.replace('z9hG4bKx', `z9hG4bKx${i}`));
      ms = Math.min(ms, performance.now() - t0);
    }
    assert.ok(ms < 20, `${ms} ms`);
    await h.responder.stop();
  });

  test('sent-by answers unchanged on ordinary entries', () => {
    assert.equal(sentByHost('SIP/2.0/UDP 198.51.100.23:5099'), '198.51.100.23');
    assert.equal(sentByHost(' SIP / 2.0 / UDP  [2001:db8::1]:5060  '), '[2001:db8::1]');
    assert.equal(sentByHost('SIP/2.0/UDP\thost.example'), 'host.example');
    assert.equal(sentByHost('SIP/2.0/UDP'), null);
    assert.equal(sentByHost('SIP/2.0/UDP   '), null);
    assert.equal(sentByHost('SIP/2.0/UDP/x h'), null);
    assert.equal(sentByHost('SIP/2.0 h'), null);
    assert.equal(sentByHost('SIP/2.0/UDP h\u2029x'), null);
    assert.equal(sentByHost('SIP/2.0/UDP a b'), 'a b');
    const v = parseVia('SIP/2.0/udp 10.0.0.1:5070 ;branch=z9hG4bK1;rport');
    assert.deepEqual(v && { protocol: v.protocol, transport: v.transport, host: v.host, port: v.port }, {
      protocol: 'SIP/2.0/udp', transport: 'UDP', host: '10.0.0.1', port: 5070,
    });
  });
});

describe('digest parameter trim is linear', () => {
  test('the exact payload (username=x + 8,000 spaces + y)', () => {
    assert.ok(minMs(() => parseAuthHeader(DIGEST_ATTACK)) < 5);
    assert.equal(parseAuthHeader(DIGEST_ATTACK).params.get('username'), 'x' + ' '.repeat(8000) + 'y');
    assert.equal(parseAuthHeader('Digest username=abc \t , realm=r\t').params.get('username'), 'abc');
    assert.equal(parseAuthHeader('Digest username=abc \t , realm=r\t').params.get('realm'), 'r');
  });

  test('credential extraction of a request carrying it', () => {
    const msg = parse(request('REGISTER', { headers: [`Authorization: ${DIGEST_ATTACK}, realm=asterisk, nonce=1, uri=sip:a, response=0`] }));
    assert.ok(minMs(() => extractCredentials(msg)) < 20);
    assert.equal(extractCredentials(msg)?.realm, 'asterisk');
  });
});
