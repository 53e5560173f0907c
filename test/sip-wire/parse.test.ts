// Unit tests of the lenient parser and the header helpers.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseSipMessage, COMPACT_FORMS } from '../../src/sip/wire/parse.js';
import {
  getHeader, getHeaders, getParam, getViaList, parseNameAddr, parseUri, parseVia, percentDecode, splitHeaderList,
} from '../../src/sip/wire/headers.js';
import { extractFields } from '../../src/sip/wire/extract.js';
import type { SipRequest } from '../../src/sip/wire/types.js';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');
function req(s: string): SipRequest {
  const r = parseSipMessage(b(s));
  if (!r.ok) assert.fail(`expected a request, got ${r.reason}`);
  return r.msg;
}
function reason(buf: Buffer | string): string {
  const r = parseSipMessage(typeof buf === 'string' ? b(buf) : buf);
  return r.ok ? 'ok' : r.reason;
}

describe('request line', () => {
  test('methods, spacing, versions', () => {
    const m = req('OPTIONS  \tsip:100@example.com\t SIP/2.0 \r\n\r\n');
    assert.equal(m.method, 'OPTIONS');
    assert.equal(m.requestUri, 'sip:100@example.com');
    assert.equal(m.sipVersion, 'SIP/2.0');
    assert.equal(req('FOO.bar-1 sip:x sip/3.10\n').method, 'FOO.bar-1');
    assert.equal(req('INVITE sip:x SIP/2.0').method, 'INVITE'); // no line end at all, but complete
  });
  test('malformed reasons', () => {
    assert.equal(reason(''), 'empty');
    assert.equal(reason('\r\n'), 'empty');
    assert.equal(reason('\r\n\r\n\n\r'), 'empty');
    assert.equal(reason('SIP/2.0 404 Not Found\r\nCall-ID: x\r\n\r\n'), 'response');
    assert.equal(reason('sip/2.0 200 OK\r\n\r\n'), 'response');
    assert.equal(reason('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'not_sip');
    assert.equal(reason('INVITE sip:x HTTP/1.1\r\n\r\n'), 'not_sip');
    assert.equal(reason('INVITE sip:x SIP/2.0 extra\r\n\r\n'), 'not_sip');
    assert.equal(reason('INV(TE sip:x SIP/2.0\r\n\r\n'), 'not_sip');
    assert.equal(reason('INVITE\r\n\r\n'), 'not_sip');
    assert.equal(reason(Buffer.from([0x00, 0x01, 0x21, 0x12, 0xa4, 0x42])), 'not_sip');
    assert.equal(reason('INVITE sip:100@exa'), 'truncated');
    assert.equal(reason('INVITE sip:100@example.com SI'), 'truncated');
    assert.equal(reason('INVITE sip:100@example.com SIP/2.'), 'truncated');
    assert.equal(reason('INVITE'), 'truncated');
    assert.equal(reason(Buffer.alloc(65_536, 0x41)), 'oversize');
    assert.equal(parseSipMessage(b('OPTIONS sip:x SIP/2.0\r\n\r\n'), { maxMessageBytes: 10 }).ok, false);
  });
  test('leading CRLFs are skipped', () => {
    assert.equal(req('\r\n\r\nOPTIONS sip:x SIP/2.0\r\nTo: <sip:1@h>\r\n\r\n').method, 'OPTIONS');
  });
});

describe('headers', () => {
  test('every compact form expands', () => {
    const letters = 'imelcfskt vabdjnoruxy'.replace(' ', '').split('');
    const lines = letters.map((l) => `${l.toUpperCase()}: v-${l}`).join('\r\n');
    const m = req(`OPTIONS sip:x SIP/2.0\r\n${lines}\r\n\r\n`);
    const want: Record<string, string> = {
      i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type', f: 'from',
      s: 'subject', k: 'supported', t: 'to', v: 'via', a: 'accept-contact', b: 'referred-by',
      d: 'request-disposition', j: 'reject-contact', n: 'identity-info', o: 'event', r: 'refer-to',
      u: 'allow-events', x: 'session-expires', y: 'identity',
    };
    assert.deepEqual({ ...COMPACT_FORMS }, want);
    for (const l of letters) {
      assert.equal(getHeader(m, want[l]!), `v-${l}`, l);
      assert.equal(getHeader(m, l), `v-${l}`, l);
    }
    assert.equal(m.headers[0]!.rawName, 'I');
  });
  test('folding, trimming, LF-only, bare CR, lines without colon', () => {
    const m = req(
      'REGISTER sip:h SIP/2.0\n' +
        'Via: SIP/2.0/UDP 192.0.2.1\n ;branch=z9hG4bK1;rport\n' +
        'To:\n\t<sip:100@h>\n' +
        'garbage line\n  continuation of garbage\n' +
        'User-Agent:  a\rb \t\n' +
        'X-Empty:\n' +
        'Subject : spaced name\n' +
        ': no name\n' +
        '\n' +
        'body',
    );
    assert.equal(getHeader(m, 'via'), 'SIP/2.0/UDP 192.0.2.1 ;branch=z9hG4bK1;rport');
    assert.equal(getHeader(m, 'TO'), '<sip:100@h>');
    assert.equal(getHeader(m, 'user-agent'), 'a\rb');
    assert.equal(getHeader(m, 'x-empty'), '');
    assert.equal(getHeader(m, 'subject'), 'spaced name');
    assert.equal(m.headers.length, 5);
    assert.equal(m.body.toString(), 'body');
  });
  test('repeated headers keep order; first wins', () => {
    const m = req('OPTIONS sip:x SIP/2.0\r\nUser-Agent: one\r\nuser-agent: two\r\nVia: a, b\r\nv: c\r\n\r\n');
    assert.equal(getHeader(m, 'User-Agent'), 'one');
    assert.deepEqual(getHeaders(m, 'user-agent'), ['one', 'two']);
    assert.deepEqual(getViaList(m), ['a', 'b', 'c']);
    assert.equal(getHeader(m, 'missing'), null);
  });
  test('budgets: long lines skipped, header count capped', () => {
    const long = 'X-Long: ' + 'a'.repeat(9000);
    const m = req(`OPTIONS sip:x SIP/2.0\r\n${long}\r\n continued\r\nUser-Agent: ua\r\n\r\n`);
    assert.deepEqual(m.budgetExceeded, ['header_line']);
    assert.equal(getHeader(m, 'x-long'), null);
    assert.equal(getHeader(m, 'user-agent'), 'ua');
    // A fold that pushes a header over the line budget drops the whole header.
    const folded = req(`OPTIONS sip:x SIP/2.0\r\nX-F: a\r\n ${'b'.repeat(8190)}\r\nTo: <sip:1@h>\r\n\r\n`);
    assert.equal(getHeader(folded, 'x-f'), null);
    assert.equal(getHeader(folded, 'to'), '<sip:1@h>');
    const many = Array.from({ length: 300 }, (_, i) => `X-${i}: ${i}`).join('\r\n');
    const c = req(`OPTIONS sip:x SIP/2.0\r\nUser-Agent: first\r\n${many}\r\nContent-Length: 4\r\n\r\nbodyEXTRA`);
    assert.equal(c.headers.length, 256);
    assert.deepEqual(c.budgetExceeded, ['header_count']);
    assert.equal(getHeader(c, 'user-agent'), 'first');
    const small = parseSipMessage(b('OPTIONS sip:x SIP/2.0\r\nA1: 1\r\nA2: 2\r\nA3: 3\r\n\r\n'), { maxHeaders: 2, maxHeaderLineBytes: 5 });
    assert.ok(small.ok);
    if (small.ok) {
      assert.deepEqual(small.msg.headers.map((h) => h.value), ['1', '2']);
    }
  });
  test('body follows Content-Length when it fits, else the rest', () => {
    assert.equal(req('INVITE sip:x SIP/2.0\r\nContent-Length: 3\r\n\r\nabcdef').body.toString(), 'abc');
    assert.equal(req('INVITE sip:x SIP/2.0\r\nl: 30\r\n\r\nabcdef').body.toString(), 'abcdef');
    assert.equal(req('INVITE sip:x SIP/2.0\r\nContent-Length: x\r\n\r\nabcdef').body.toString(), 'abcdef');
    assert.equal(req('INVITE sip:x SIP/2.0\r\n\r\nabcdef').body.toString(), 'abcdef');
    assert.equal(req('INVITE sip:x SIP/2.0\r\nTo: a\r\n').body.length, 0); // unterminated header block
  });
  test('non-UTF-8 bytes never fail', () => {
    const raw = Buffer.concat([b('OPTIONS sip:x SIP/2.0\r\nUser-Agent: a'), Buffer.from([0xff, 0xfe]), b('b\r\n\r\n')]);
    const r = parseSipMessage(raw);
    assert.ok(r.ok);
    if (!r.ok) return;
    assert.equal(r.msg.rawIsUtf8, false);
    assert.equal(r.msg.text, null, 'no ASCII text for a non-ASCII message');
    assert.equal(getHeader(r.msg, 'user-agent'), 'a\ufffd\ufffdb');
    assert.equal(req('OPTIONS sip:x SIP/2.0\r\n\r\n').rawIsUtf8, true);
    assert.equal(req('\r\nOPTIONS sip:x SIP/2.0\r\n\r\n').text, '\r\nOPTIONS sip:x SIP/2.0\r\n\r\n', 'ASCII text is the whole message');
  });
});

describe('header value helpers', () => {
  test('parseNameAddr', () => {
    assert.deepEqual(parseNameAddr('"A \\"q\\" <sip:9@x>" <sip:102@h>;tag=abc;lr'), {
      displayName: 'A "q" <sip:9@x>',
      uri: 'sip:102@h',
      params: new Map([['tag', 'abc'], ['lr', '']]),
    });
    assert.deepEqual(parseNameAddr('sipvicious<sip:100@1.1.1.1>;TAG=x'), {
      displayName: 'sipvicious', uri: 'sip:100@1.1.1.1', params: new Map([['tag', 'x']]),
    });
    assert.deepEqual(parseNameAddr('sip:100@h;tag=1'), { displayName: null, uri: 'sip:100@h', params: new Map([['tag', '1']]) });
    assert.equal(parseNameAddr('   '), null);
    assert.equal(parseNameAddr('"unterminated <sip:1@h>')!.uri, '');
    assert.equal(parseNameAddr('<sip:0096311')!.uri, 'sip:0096311');
  });
  test('parseUri', () => {
    const u = parseUri('SIPS:100:pw;x=1@[2001:db8::1]:5061;transport=tls;lr?h=1')!;
    assert.equal(u.scheme, 'sips');
    assert.equal(u.user, '100');
    assert.equal(u.userinfo, '100:pw;x=1');
    assert.equal(u.password, 'pw');
    assert.equal(u.host, '[2001:db8::1]');
    assert.equal(u.port, 5061);
    assert.equal(getParam(u.params, 'TRANSPORT'), 'tls');
    assert.equal(getParam(u.params, 'lr'), '');
    assert.equal(getParam(u.params, 'h'), null);
    const v6 = parseUri('sip:::1')!;
    assert.deepEqual([v6.user, v6.host, v6.port], [null, '::1', null]);
    const h = parseUri('sip:example.com:5060')!;
    assert.deepEqual([h.user, h.host, h.port], [null, 'example.com', 5060]);
    assert.equal(parseUri('sip:@1.1.1.1')!.user, null);
    assert.equal(parseUri('sip:%2b44%20207@h')!.user, '+44 207');
    assert.equal(parseUri('sip:7946000;phone-context=+4420@h;user=phone')!.user, '7946000');
    const t = parseUri('tel:+1-415-555-0123;phone-context=x')!;
    assert.deepEqual([t.scheme, t.user, t.userinfo], ['tel', '+1-415-555-0123', '+1-415-555-0123;phone-context=x']);
    assert.equal(parseUri('http://x'), null);
    assert.equal(parseUri('nocolon'), null);
  });
  test('percentDecode is lenient', () => {
    assert.equal(percentDecode('j%C3%BCrgen'), 'jürgen');
    assert.equal(percentDecode('%zz%4'), '%zz%4');
    assert.equal(percentDecode('%ff'), '\ufffd');
  });
  test('parseVia and lists', () => {
    const v = parseVia('SIP / 2.0 / udp [2001:db8::2]:5070;branch=z9hG4bK-1;rport;received=192.0.2.9, SIP/2.0/TCP b')!;
    assert.equal(v.protocol, 'SIP/2.0/udp');
    assert.equal(v.transport, 'UDP');
    assert.equal(v.host, '[2001:db8::2]');
    assert.equal(v.port, 5070);
    assert.equal(getParam(v.params, 'branch'), 'z9hG4bK-1');
    assert.equal(getParam(v.params, 'rport'), '');
    assert.equal(getParam(v.params, 'received'), '192.0.2.9');
    assert.equal(parseVia('SIP/2.0/UDP 192.0.2.1')!.port, null);
    assert.equal(parseVia('garbage'), null);
    assert.deepEqual(splitHeaderList('"a,b" <sip:x,y>, c'), ['"a,b" <sip:x,y>', 'c']);
  });
});

describe('extractFields', () => {
  const fields = (ruri: string, to: string | null, extra = ''): ReturnType<typeof extractFields> =>
    extractFields(req(`INVITE ${ruri} SIP/2.0\r\n${to === null ? '' : `To: ${to}\r\n`}${extra}\r\n`));

  test('the event fields examples', () => {
    assert.equal(fields('sip:0046812118532@h', '<sip:100@h>').calledNumber, '0046812118532');
    assert.equal(fields('sip:h', '<sip:100@h>').calledNumber, '100');
    assert.equal(fields('sip:alice@h', '<sip:bob@h>').calledNumber, 'bob');
    assert.equal(fields('sip:h', '<sip:@1.1.1.1>').calledNumber, 'NOT_FOUND');
    assert.equal(fields('sip:h', null).calledNumber, 'NOT_FOUND');
  });
  test('called_number keeps the raw userinfo; E.164 follows', () => {
    const f = fields('sip:%2B44%20207%20946%200456@h', '<sip:1@h>');
    assert.equal(f.calledNumber, '%2B44%20207%20946%200456');
    assert.equal(f.calledNumberE164, '+442079460456');
    assert.equal(f.requestUriUser, '+44 207 946 0456');
    const pc = fields('sip:0044-20-7946-0000;phone-context=+44@h', null);
    assert.equal(pc.calledNumber, '0044-20-7946-0000;phone-context=+44');
    assert.equal(pc.calledNumberE164, '+442079460000');
    const tel = fields('sip:h', '<tel:+1-415-555-0123>');
    assert.equal(tel.calledNumber, '+1-415-555-0123');
    assert.equal(tel.calledNumberE164, '+14155550123');
    // A URI password never reaches called_number.
    assert.equal(fields('sip:100:hunter2@h', null).calledNumber, '100');
  });
  test('user agent, call-id, branch, cseq', () => {
    const f = fields('sip:h', null, 'User-Agent: x\x1b[31m\ry\x7f\r\nCall-ID: abc\r\nCSeq: 1  ACK\r\nv: SIP/2.0/UDP h;branch=z9hG4bKq\r\n');
    assert.equal(f.userAgent, 'x\\x1b[31m\\x0dy\\x7f');
    assert.equal(f.callId, 'abc');
    assert.equal(f.cseq, '1  ACK');
    assert.equal(f.topViaBranch, 'z9hG4bKq');
    const none = fields('sip:h', null, 'User-Agent:  \t \r\nCall-ID:\r\n');
    assert.equal(none.userAgent, 'NOT_FOUND');
    assert.equal(none.callId, null);
    assert.equal(none.topViaBranch, null);
    assert.equal(none.cseq, null);
  });
});
