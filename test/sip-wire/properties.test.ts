// fast-check properties: the parser, extractor and framer are total and keep their budgets; serialisation
// round-trips the extracted fields.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseSipMessage, canonicalHeaderName } from '../../src/sip/wire/parse.js';
import { extractFields } from '../../src/sip/wire/extract.js';
import { serializeRequest } from '../../src/sip/wire/serialize.js';
import { createStreamFramer } from '../../src/sip/wire/framer.js';
import { toE164 } from '../../src/net/numbers.js';
import { nameAddrUri, parseNameAddr, parseUri, parseVia, getParam, topViaBranch, uriUser } from '../../src/sip/wire/headers.js';
import type { ParseBudgets, SipRequest } from '../../src/sip/wire/types.js';

import { EDGE_CASES } from '../helpers/sip-edge-cases.js';
import { loadManifest, readFixture } from '../helpers/sip-fixtures.js';

/** Seeds for mutation: every recorded datagram and every hand-made edge case. */
const fixtures = [
  ...loadManifest<{ file: string }>()
    .entries.filter((e) => e.file.endsWith('.sip'))
    .map((e) => readFixture(e.file)),
  ...EDGE_CASES.map((e) => e.bytes),
];

/** Parses, extracts and checks the budget invariants; returns nothing, throws on violation. */
function checkTotal(buf: Buffer, budgets?: ParseBudgets): void {
  const r = parseSipMessage(buf, budgets);
  if (!r.ok) {
    assert.ok(['response', 'not_sip', 'oversize', 'truncated', 'empty'].includes(r.reason));
    return;
  }
  const maxHeaders = budgets?.maxHeaders ?? 256;
  const maxLine = budgets?.maxHeaderLineBytes ?? 8192;
  assert.ok(r.msg.headers.length <= maxHeaders);
  // A value comes from at most maxLine line bytes; each byte decodes to at most one UTF-16 unit.
  for (const h of r.msg.headers) assert.ok(h.rawName.length + h.value.length <= maxLine);
  assert.ok(r.msg.body.length <= buf.length);
  // The ASCII fast path's text is exactly the UTF-8 decoding the event would otherwise make.
  if (r.msg.text !== null) assert.equal(r.msg.text, buf.toString('utf8'));
  else assert.ok(!buf.every((x) => x < 0x80), 'an ASCII message has its text');
  const f = extractFields(r.msg);
  assert.ok(!/[\x00-\x1f\x7f]/.test(f.userAgent));
  assert.equal(typeof f.calledNumber, 'string');
  toE164(f.calledNumber);
}

const header = fc.oneof(
  fc.constantFrom('To: <sip:100@h>', 'l: 3', 'User-Agent: x', 'Via: SIP/2.0/UDP h;branch=z9', 'garbage', ': v'),
  fc.string({ maxLength: 40 }).map((s) => `X-${s.replace(/[\r\n]/g, '')}: v`),
  fc.integer({ min: 8000, max: 9000 }).map((n) => 'X-Long: ' + 'a'.repeat(n)),
  fc.string({ maxLength: 20 }).map((s) => ' ' + s.replace(/[\r\n]/g, '')),
);

describe('parser properties', () => {
  test('arbitrary bytes never throw and budgets hold', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1500 }), (a) => checkTotal(Buffer.from(a))), { numRuns: 1000 });
    const small: ParseBudgets = { maxMessageBytes: 1000, maxHeaderLineBytes: 40, maxHeaders: 5 };
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom('\r\n', '\n', ' ', ':', '\r')), { maxLength: 80 }), (parts) =>
        checkTotal(Buffer.from('OPTIONS sip:x SIP/2.0\r\n' + parts.join('')), small),
      ),
      { numRuns: 500 },
    );
  });
  test('header-line and header-count budgets hold for the real limits', () => {
    fc.assert(
      fc.property(fc.array(header, { maxLength: 400 }), fc.constantFrom('\r\n', '\n'), (lines, eol) => {
        const buf = Buffer.from(`INVITE sip:1@h SIP/2.0${eol}${lines.join(eol)}${eol}${eol}abc`);
        const r = parseSipMessage(buf, { maxMessageBytes: 10_000_000, maxHeaderLineBytes: 8192, maxHeaders: 256 });
        assert.ok(r.ok);
        if (!r.ok) return;
        assert.ok(r.msg.headers.length <= 256);
        for (const h of r.msg.headers) assert.ok(h.value.length <= 8192);
        // Lines that certainly start a kept header, minus folds that might push one over the line budget.
        const starts = lines.filter((l) => !l.startsWith(' ') && !l.startsWith(':') && l.includes(':') && l.length <= 8192);
        const folds = lines.filter((l) => l.startsWith(' ')).length;
        if (starts.length - folds > 256) assert.ok(r.msg.budgetExceeded.includes('header_count'));
        if (starts.length <= 256 && !lines.some((l) => l.length > 8000)) assert.deepEqual(r.msg.budgetExceeded, []);
        if (lines.some((l) => l.length > 8192)) assert.ok(r.msg.budgetExceeded.includes('header_line'));
      }),
      { numRuns: 150 },
    );
  });
  test('mutated fixtures (flips, truncations, insertions) never throw', () => {
    const mutation = fc.oneof(
      fc.record({ op: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ op: fc.constant('cut' as const), at: fc.nat(), byte: fc.constant(0) }),
      fc.record({ op: fc.constant('insert' as const), at: fc.nat(), byte: fc.constantFrom(0, 10, 13, 32, 58, 59, 60, 62, 64, 0xff) }),
    );
    fc.assert(
      fc.property(fc.nat({ max: fixtures.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 12 }), fc.nat(), (k, muts, split) => {
        let buf = Buffer.from(fixtures[k]!);
        for (const m of muts) {
          if (buf.length === 0) break;
          const at = m.at % buf.length;
          if (m.op === 'flip') buf[at] = m.byte;
          else if (m.op === 'cut') buf = buf.subarray(0, at);
          else buf = Buffer.concat([buf.subarray(0, at), Buffer.from([m.byte]), buf.subarray(at)]);
        }
        checkTotal(buf);
        const f = createStreamFramer({ maxMessageBytes: 65_535 });
        const s = buf.length === 0 ? 0 : split % buf.length;
        f.push(buf.subarray(0, s));
        f.push(buf.subarray(s));
      }),
      { numRuns: 1500 },
    );
  });
});

const tokenChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`\'~'.split(''));
const token = fc.string({ unit: tokenChar, minLength: 1, maxLength: 12 });
const userChar = fc.constantFrom(...'0123456789abcxyz+-.()%;=:'.split(''));
const user = fc.string({ unit: userChar, maxLength: 16 });
const uri = fc.tuple(fc.constantFrom('sip', 'SIP', 'sips', 'tel'), user, fc.boolean()).map(([s, u, at]) =>
  s.toLowerCase() === 'tel' ? `${s}:${u}` : at ? `${s}:${u}@192.0.2.1;transport=udp` : `${s}:192.0.2.1`,
);
/** Header values: any text without LF, not starting or ending with SP/HT (the parser trims those). */
const value = fc.string({ maxLength: 40 }).map((s) => s.replace(/\n/g, '').replace(/^[ \t]+|[ \t]+$/g, ''));
const headerOf = fc.oneof(
  fc.tuple(fc.constantFrom('To', 't', 'TO'), fc.option(fc.string({ unit: tokenChar, maxLength: 8 })), uri).map(
    ([n, dn, u]) => ({ name: n, value: dn === null ? u : `"${dn}" <${u}>;tag=1` }),
  ),
  fc.record({ name: fc.constantFrom('User-Agent', 'user-agent', 'Call-ID', 'i', 'CSeq', 'Subject', 's'), value }),
  fc.record({ name: fc.constantFrom('Via', 'v'), value: token.map((b) => `SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK${b}`) }),
  fc.record({ name: token.filter((t) => t.length > 1), value }),
);

describe('fast extraction helpers agree with the full parsers', () => {
  const sipish = fc
    .tuple(
      fc.constantFrom('', 'sip:', 'SIPS:', 'tel:', '<sip:', '"a" <sip:', ';branch=', ' ; BRANCH = '),
      fc.string({ unit: fc.constantFrom(...'"\\<>;:@=, \tsiptelSIP01+%ab[]'.split('')), maxLength: 30 }),
    )
    .map(([a, b]) => a + b);
  test('nameAddrUri / uriUser / topViaBranch', () => {
    fc.assert(
      fc.property(sipish, (v) => {
        const na = parseNameAddr(v);
        assert.equal(nameAddrUri(v), na === null || na.uri === '' ? null : na.uri);
        const full = parseUri(v);
        const fast = uriUser(v);
        assert.deepEqual(fast, full === null ? null : { scheme: full.scheme, userinfo: full.userinfo, user: full.user });
        const via = parseVia('SIP/2.0/UDP h' + v);
        if (via !== null && !/["<]/.test(v)) {
          const b = getParam(via.params, 'branch');
          assert.equal(topViaBranch('SIP/2.0/UDP h' + v), b === null || b === '' ? null : b);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('round trip', () => {
  test('parse(serialize(x)) keeps the headers and the extracted fields', () => {
    fc.assert(
      fc.property(token, uri, fc.array(headerOf, { maxLength: 20 }), fc.uint8Array({ maxLength: 64 }), (method, ruri, hs, body) => {
        const x: Pick<SipRequest, 'requestUri' | 'headers'> = {
          requestUri: ruri,
          headers: hs.map((h) => ({ rawName: h.name, name: canonicalHeaderName(h.name), value: h.value })),
        };
        const clean = hs.filter((h) => canonicalHeaderName(h.name) !== 'content-length');
        const wire = serializeRequest({ method, requestUri: ruri, headers: clean, body: Buffer.from(body) });
        const r = parseSipMessage(wire);
        assert.ok(r.ok);
        if (!r.ok) return;
        assert.equal(r.msg.method, method);
        assert.equal(r.msg.requestUri, ruri);
        assert.deepEqual(r.msg.body, Buffer.from(body));
        assert.deepEqual(
          r.msg.headers.slice(0, clean.length).map((h) => [h.rawName, h.value]),
          clean.map((h) => [h.name, h.value]),
        );
        const want = extractFields({ requestUri: ruri, headers: x.headers.filter((h) => h.name !== 'content-length') });
        assert.deepEqual(extractFields(r.msg), want);
      }),
      { numRuns: 500 },
    );
  });
});

describe('framer properties', () => {
  const chunked = (buf: Buffer, cuts: number[]): Buffer[] => {
    const points = [...new Set(cuts.map((c) => (buf.length === 0 ? 0 : c % buf.length)))].sort((a, b) => a - b);
    const parts: Buffer[] = [];
    let prev = 0;
    for (const p of points) {
      parts.push(buf.subarray(prev, p));
      prev = p;
    }
    parts.push(buf.subarray(prev));
    return parts;
  };

  test('arbitrary bytes in arbitrary chunks: never throws, never emits more than received', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat(), { maxLength: 20 }), fc.integer({ min: 16, max: 2000 }), (a, cuts, max) => {
        const f = createStreamFramer({ maxMessageBytes: max });
        let received = 0;
        let emitted = 0;
        let errors = 0;
        for (const part of chunked(Buffer.from(a), cuts)) {
          received += part.length;
          for (const it of f.push(part)) {
            if (it.kind === 'message') {
              emitted += it.bytes.length;
              assert.ok(it.bytes.length <= max);
            } else if (it.kind === 'error') errors++;
            assert.equal(errors <= 1, true);
          }
          assert.ok(emitted <= received);
        }
      }),
      { numRuns: 800 },
    );
  });
  test('serialised messages with keep-alives between them come back exactly, however chunked', () => {
    const one = fc.tuple(token, uri, fc.uint8Array({ maxLength: 200 })).map(([m, u, body]) =>
      serializeRequest({ method: m, requestUri: u, headers: [{ name: 'Call-ID', value: 'c' }], body: Buffer.from(body) }),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('', '\r\n', '\r\n\r\n'), one), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (msgs, cuts) => {
          const stream = Buffer.concat(msgs.flatMap(([ka, m]) => [Buffer.from(ka), m]));
          const f = createStreamFramer({ maxMessageBytes: 65_535 });
          const got: Buffer[] = [];
          let pongs = 0;
          for (const part of chunked(stream, cuts)) {
            for (const it of f.push(part)) {
              if (it.kind === 'message') got.push(it.bytes);
              else if (it.kind === 'keepalive' && it.pong) pongs++;
              else if (it.kind === 'error') assert.fail('unexpected error');
            }
          }
          assert.deepEqual(got, msgs.map(([, m]) => m));
          assert.equal(pongs, msgs.filter(([ka]) => ka === '\r\n\r\n').length);
          assert.equal(f.buffered, 0);
        },
      ),
      { numRuns: 400 },
    );
  });
});
