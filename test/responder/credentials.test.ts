// the responder rules credential capture: every recorded fixture and hand-made edge case with authorization or sipvicious-tag
// data, the strict tag rule, both digest forms, and "never throws".
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseSipMessage } from '../../src/sip/wire/parse.js';
import type { SipRequest } from '../../src/sip/wire/types.js';
import { decodeSipviciousTag, extractCredentials } from '../../src/sip/responder/credentials.js';
import { digestMatches, md5hex, parseAuthHeader } from '../../src/sip/responder/digest.js';
import { EDGE_CASES } from '../helpers/sip-edge-cases.js';
import { loadManifest, readFixture } from '../helpers/sip-fixtures.js';

interface Entry {
  file: string;
  kind: string;
  authorization: Record<string, string | null> | null;
  decodedSipviciousTagCredential: { username: string; password: string; tag: string } | null;
}
interface Case extends Entry {
  bytes: Buffer;
}
const recorded: Case[] = loadManifest<Entry>()
  .entries.filter((e) => e.kind === 'request' && e.file.endsWith('.sip'))
  .map((e) => ({ ...e, bytes: readFixture(e.file) }));
const requests: Case[] = [...recorded, ...EDGE_CASES.filter((e) => e.kind === 'request')];

function parse(bytes: Buffer | string): SipRequest {
  const r = parseSipMessage(typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
  assert.ok(r.ok, 'fixture parses');
  return r.msg;
}
const edge = (name: string): SipRequest => parse(EDGE_CASES.find((e) => e.file === name)!.bytes);

describe('extractCredentials against the fixture manifest and the edge cases', () => {
  const withData = requests.filter((e) => e.authorization !== null || e.decodedSipviciousTagCredential !== null);
  test('there are credential fixtures', () => {
    assert.ok(withData.length >= 13, String(withData.length));
    // Real svcrack guesses (tag credentials) and real digests from other tools.
    assert.ok(recorded.filter((e) => e.decodedSipviciousTagCredential !== null).length >= 6);
    assert.ok(recorded.some((e) => e.authorization !== null && e.decodedSipviciousTagCredential === null));
  });

  for (const e of requests) {
    test(e.file, () => {
      const auth = extractCredentials(parse(e.bytes));
      if (e.authorization === null) {
        assert.equal(auth, null);
        return;
      }
      assert.ok(auth);
      for (const k of ['header', 'scheme', 'username', 'realm', 'nonce', 'uri', 'response', 'algorithm', 'qop'] as const) {
        assert.equal(auth[k], e.authorization[k], `${k}`);
      }
      const cred = e.decodedSipviciousTagCredential;
      if (cred === null) {
        assert.equal(auth.password, null);
        assert.equal(auth.passwordSource, null);
        assert.equal(auth.passwordVerified, null);
      } else {
        assert.equal(auth.password, cred.password);
        assert.equal(auth.passwordSource, 'sipvicious_tag');
        // svcrack computed each response from the very password its tag carries.
        if (e.file.includes('svcrack')) assert.equal(auth.passwordVerified, true);
        else assert.equal(typeof auth.passwordVerified, 'boolean');
        assert.deepEqual(decodeSipviciousTag(cred.tag), { username: cred.username, password: cred.password });
      }
    });
  }

  test('odd-format header: spaces around =, folded, unquoted response, empty opaque, nc/cnonce', () => {
    const auth = extractCredentials(edge('edge-authorization-odd-format-REGISTER'));
    assert.ok(auth);
    assert.equal(auth.opaque, '');
    assert.equal(auth.nc, '00000001');
    assert.equal(auth.cnonce, '0a4f113b');
  });
});

describe('sipvicious From-tag rule (strict)', () => {
  const hex = (s: string | Buffer): string => Buffer.from(s).toString('hex');
  test('the documented example', () => {
    assert.deepEqual(decodeSipviciousTag('3130303a70617373776f7264013132333435'), { username: '100', password: 'password' });
  });
  test('uppercase hex and a password with ":" and a space split at the first ":"', () => {
    assert.deepEqual(decodeSipviciousTag(hex('1001:pa:ss word\x013735928559').toUpperCase()), { username: '1001', password: 'pa:ss word' });
  });
  test('empty password is still a guess', () => {
    assert.deepEqual(decodeSipviciousTag(hex('100:\x0112')), { username: '100', password: '' });
  });
  for (const [name, tag] of [
    ['sipsak hex tag', '48f23d32'],
    ['svwar extension tag (no colon)', hex('109\x012460287211')],
    ['svcrack probe tag', '3206210844'],
    ['odd length', hex('100:pw\x011') + '0'],
    ['non-hex', 'zz' + hex('100:pw\x011')],
    ['no digits after 0x01', hex('100:pw\x01')],
    ['11 digits', hex('100:pw\x0112345678901')],
    ['letters after 0x01', hex('100:pw\x0112a')],
    ['two 0x01 bytes', hex('100:p\x01w\x0112')],
    ['invalid UTF-8', hex(Buffer.concat([Buffer.from('100:'), Buffer.from([0xff, 0xfe]), Buffer.from('\x0112')]))],
    ['no text before 0x01', hex('\x0112')],
  ] as const) {
    test(`rejects ${name}`, () => assert.equal(decodeSipviciousTag(tag), null));
  }
});

describe('digest verification', () => {
  const base = { username: '100', realm: 'asterisk', nonce: '1700000000/abc', uri: 'sip:127.0.0.1', method: 'REGISTER' };
  const ha1 = md5hex('100:asterisk:secret');
  const ha2 = md5hex('REGISTER:sip:127.0.0.1');
  test('RFC 2069 form', () => {
    const response = md5hex(`${ha1}:${base.nonce}:${ha2}`);
    assert.equal(digestMatches({ ...base, response, nc: null, cnonce: null, qop: 'auth' }, 'secret'), true);
    assert.equal(digestMatches({ ...base, response, nc: null, cnonce: null, qop: 'auth' }, 'wrong'), false);
    // nc/cnonce sent but the RFC 2069 form computed: still a match.
    assert.equal(digestMatches({ ...base, response, nc: '00000001', cnonce: 'x', qop: 'auth' }, 'secret'), true);
  });
  test('qop=auth form', () => {
    const response = md5hex(`${ha1}:${base.nonce}:00000001:cafe:auth:${ha2}`);
    assert.equal(digestMatches({ ...base, response, nc: '00000001', cnonce: 'cafe', qop: 'auth' }, 'secret'), true);
    assert.equal(digestMatches({ ...base, response: response.toUpperCase(), nc: '00000001', cnonce: 'cafe', qop: 'auth' }, 'secret'), true);
    assert.equal(digestMatches({ ...base, response, nc: null, cnonce: null, qop: 'auth' }, 'secret'), false);
  });
  test('password_verified = 0 when the tag password does not produce the response', () => {
    const tag = Buffer.from('100:guess\x0112345').toString('hex');
    const msg = parse(
      'REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n' +
        `From: <sip:100@127.0.0.1>;tag=${tag}\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: 1\r\nCSeq: 2 REGISTER\r\n` +
        'Proxy-Authorization: Digest username=100, realm=asterisk, nonce=n, uri=sip:127.0.0.1, response=00000000000000000000000000000000\r\n\r\n',
    );
    const auth = extractCredentials(msg);
    assert.ok(auth);
    assert.equal(auth.header, 'Proxy-Authorization');
    assert.equal(auth.password, 'guess');
    assert.equal(auth.passwordVerified, false);
  });
  test('Authorization wins over Proxy-Authorization; non-digest schemes keep only the scheme', () => {
    const msg = parse(
      'INVITE sip:1@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:1@h>\r\n' +
        'Call-ID: 1\r\nCSeq: 1 INVITE\r\nAuthorization: Basic dXNlcjpwYXNz\r\nProxy-Authorization: Digest username="x"\r\n\r\n',
    );
    const auth = extractCredentials(msg);
    assert.ok(auth);
    assert.equal(auth.header, 'Authorization');
    assert.equal(auth.scheme, 'Basic');
    assert.equal(auth.username, null);
  });
  test('quoted strings with escapes and commas', () => {
    const p = parseAuthHeader('Digest realm="a,\\"b", username=u , nonce = "n"');
    assert.equal(p.params.get('realm'), 'a,"b');
    assert.equal(p.params.get('username'), 'u');
    assert.equal(p.params.get('nonce'), 'n');
  });
});

test('property: extractCredentials never throws on arbitrary header values and tags', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), fc.string({ maxLength: 80 }), fc.constantFrom('authorization', 'proxy-authorization'), (auth, tag, name) => {
      const msg: SipRequest = {
        method: 'REGISTER',
        requestUri: 'sip:h',
        sipVersion: 'SIP/2.0',
        headers: [
          { rawName: 'From', name: 'from', value: `<sip:a@h>;tag=${tag}` },
          { rawName: name, name, value: `Digest ${auth}` },
        ],
        body: Buffer.alloc(0),
        raw: Buffer.alloc(0),
        rawIsUtf8: true,
        text: null,
        budgetExceeded: [],
      };
      const r = extractCredentials(msg);
      assert.ok(r === null || typeof r.scheme === 'string');
    }),
    { numRuns: 2000 },
  );
});
