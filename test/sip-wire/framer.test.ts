// Unit tests of the TCP/TLS stream framer.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createStreamFramer, type FramedItem } from '../../src/sip/wire/framer.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const msg = (body = '', clHeader = 'Content-Length'): string =>
  `OPTIONS sip:100@h SIP/2.0\r\nCall-ID: x\r\n${clHeader}: ${body.length}\r\n\r\n${body}`;
const describeItems = (items: FramedItem[]): string[] =>
  items.map((i) => (i.kind === 'message' ? `m:${i.bytes.toString('latin1')}` : i.kind === 'keepalive' ? `k:${i.pong}` : `e:${i.reason}`));

function feed(parts: string[], max = 65_535): string[] {
  const f = createStreamFramer({ maxMessageBytes: max });
  const out: FramedItem[] = [];
  for (const p of parts) out.push(...f.push(b(p)));
  return describeItems(out);
}

describe('stream framer', () => {
  test('Content-Length framing, compact l, missing = 0, LF-only', () => {
    const a = msg('v=0\r\n');
    const c = 'MESSAGE sip:1@h SIP/2.0\nl:  3\n\nabc';
    const d = 'OPTIONS sip:1@h SIP/2.0\r\nTo: x\r\n\r\n';
    assert.deepEqual(feed([a + c + d]), [`m:${a}`, `m:${c}`, `m:${d}`]);
    // Content-Length is case-insensitive and the first one wins.
    const e = 'INFO sip:1@h SIP/2.0\r\ncontent-LENGTH : 2\r\nContent-Length: 9\r\n\r\nxy';
    assert.deepEqual(feed([e + d]), [`m:${e}`, `m:${d}`]);
  });
  test('split at every position gives the same messages', () => {
    const s = msg('hello body') + '\r\n\r\n' + msg();
    const whole = feed([s]);
    assert.deepEqual(whole, [`m:${msg('hello body')}`, 'k:true', `m:${msg()}`]);
    for (let i = 1; i < s.length; i++) assert.deepEqual(feed([s.slice(0, i), s.slice(i)]), whole, `split at ${i}`);
  });
  test('keep-alives', () => {
    assert.deepEqual(feed(['\r\n\r\n']), ['k:true']);
    assert.deepEqual(feed(['\r\n', '\r\n']), ['k:true']);
    assert.deepEqual(feed(['\r\n\r\n\r\n\r\n']), ['k:true', 'k:true']);
    assert.deepEqual(feed(['\r\n']), []); // a lone CRLF (pong from the client) awaits what follows
    assert.deepEqual(feed(['\r\n' + msg()]), ['k:false', `m:${msg()}`]);
    assert.deepEqual(feed([msg() + '\n' + msg()]), [`m:${msg()}`, 'k:false', `m:${msg()}`]);
  });
  test('oversize header block or total → one error, then dead', () => {
    const f = createStreamFramer({ maxMessageBytes: 100 });
    assert.deepEqual(f.push(b('OPTIONS sip:x SIP/2.0\r\n')), []);
    const items = f.push(b('X: ' + 'a'.repeat(100) + '\r\n'));
    assert.deepEqual(describeItems(items), ['e:oversize']);
    assert.deepEqual(f.push(b('\r\n\r\n')), []);
    // Content-Length announcing more than the cap fails as soon as the header block is complete.
    assert.deepEqual(feed(['INVITE sip:x SIP/2.0\r\nContent-Length: 70000\r\n\r\n'], 65_535), ['e:oversize']);
    // Exactly at the cap is fine.
    const exact = 'INVITE sip:x SIP/2.0\r\nl: 10\r\n\r\n';
    const m = exact + 'z'.repeat(10);
    assert.deepEqual(feed([m], m.length), [`m:${m}`]);
    assert.deepEqual(feed([m], m.length - 1), ['e:oversize']);
  });
  test('incomplete message stays buffered; 70 KB message closes', () => {
    const f = createStreamFramer({ maxMessageBytes: 65_535 });
    assert.deepEqual(f.push(b('INVITE sip:x SIP/2.0\r\nContent-Length: 5\r\n\r\nab')), []);
    assert.ok(f.buffered > 0);
    assert.equal(describeItems(f.push(b('cde')))[0], 'm:INVITE sip:x SIP/2.0\r\nContent-Length: 5\r\n\r\nabcde');
    assert.equal(f.buffered, 0);
    const big = createStreamFramer({ maxMessageBytes: 65_535 });
    const out: FramedItem[] = [];
    const chunk = b('X'.repeat(1400));
    for (let i = 0; i < 50; i++) out.push(...big.push(chunk));
    assert.deepEqual(describeItems(out), ['e:oversize']);
  });
  test('bytes that cannot start a SIP line are handed over at once (so the caller rejects and closes)', () => {
    const dns = Buffer.from([0x00, 0x1e, 0x00, 0x06, 0x01, 0x00, 0x00, 0x01]);
    const f = createStreamFramer({ maxMessageBytes: 65_535 });
    const items = f.push(dns);
    assert.equal(items.length, 1);
    assert.ok(items[0]!.kind === 'message' && items[0]!.bytes.equals(dns));
    assert.equal(f.buffered, 0);
    // TLS ClientHello on the plain port, after a complete message.
    const hello = '\x16\x03\x01\x02\x00';
    assert.deepEqual(feed([msg() + hello]), [`m:${msg()}`, `m:${hello}`]);
    // Token-character starts (requests, responses, HTTP) are framed normally.
    assert.deepEqual(feed(['SIP/2.0 200 OK\r\nl: 0\r\n\r\n']), ['m:SIP/2.0 200 OK\r\nl: 0\r\n\r\n']);
    assert.deepEqual(feed(['GET / HTTP/1.0\r\n']), []);
  });
  test('byte-by-byte feeding of a large message is linear-time', () => {
    const body = 'a'.repeat(60_000);
    const s = msg(body);
    const f = createStreamFramer({ maxMessageBytes: 65_535 });
    const buf = b(s);
    const t0 = performance.now();
    let got: FramedItem[] = [];
    for (let i = 0; i < buf.length; i++) got = got.concat(f.push(buf.subarray(i, i + 1)));
    assert.ok(performance.now() - t0 < 2000);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.kind === 'message' && got[0]!.bytes.length, buf.length);
  });
});
