// The shared escaping rule for attacker text, and each human-facing output that uses it: syslog line, JSON log
// line, operational (stderr) log line, and the stored URI users after percent-decoding.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { escapeAttackerText, isUnsafeCodePoint } from '../../src/text/escape.js';
import { formatSyslogLine } from '../../src/sinks/syslog.js';
import { toJsonLogLine } from '../../src/events/json-log.js';
import { createLogger } from '../../src/log.js';
import { extractFields } from '../../src/sip/wire/extract.js';
import { parse, request } from '../responder/harness.js';

/** Every character the rule must never let through raw. */
const HOSTILE: string[] = [];
for (let c = 0; c < 0x20; c++) HOSTILE.push(String.fromCharCode(c));
HOSTILE.push('\x7f');
for (let c = 0x80; c <= 0x9f; c++) HOSTILE.push(String.fromCharCode(c));
for (const c of [0x2028, 0x2029, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x200b, 0x200e, 0x200f, 0x2060, 0xfeff, 0x00ad, 0x061c, 0xfff9]) {
  HOSTILE.push(String.fromCharCode(c));
}
HOSTILE.push(String.fromCodePoint(0xe0001), String.fromCodePoint(0xe0041), '\ud800', '\udfff');
const HOSTILE_TEXT = 'a' + HOSTILE.join('b') + 'z';

/** True when the text holds none of the hostile characters raw (the whole Cf category checked too). */
function clean(s: string): boolean {
  for (const ch of s) if (isUnsafeCodePoint(ch.codePointAt(0)!) && ch !== '\n') return false;
  return !HOSTILE.some((h) => h !== '\n' && s.includes(h));
}

describe('escapeAttackerText', () => {
  test('printable ASCII and ordinary Unicode text are unchanged (same string)', () => {
    const s = 'friendly-scanner 1.0 "quoted" \\ back; é 中文 😀 Ω';
    assert.equal(escapeAttackerText(s), s);
    assert.equal(escapeAttackerText(s, 'json'), s);
  });

  test('text form: \\xHH for C0/DEL/C1, \\uHHHH for separators, bidi and format characters', () => {
    assert.equal(escapeAttackerText('a\r\n\x1b[31m\x7f\x9b\u0085b'), 'a\\x0d\\x0a\\x1b[31m\\x7f\\x9b\\x85b');
    assert.equal(escapeAttackerText('x\u2028y\u2029\u202e\u2066\u200b\ufeff'), 'x\\u2028y\\u2029\\u202e\\u2066\\u200b\\ufeff');
    assert.equal(escapeAttackerText('\u{e0041}\ud800'), '\\u{e0041}\\ud800');
    assert.ok(clean(escapeAttackerText(HOSTILE_TEXT)));
  });

  test('idempotent', () => {
    const once = escapeAttackerText(HOSTILE_TEXT);
    assert.equal(escapeAttackerText(once), once);
  });

  test('json form is lossless inside JSON', () => {
    const line = escapeAttackerText(JSON.stringify({ v: HOSTILE_TEXT }), 'json');
    assert.ok(clean(line), line);
    assert.equal(JSON.parse(line).v, HOSTILE_TEXT);
  });

  test('the whole BMP: exactly C0, DEL, C1, U+2028/9, surrogates and category Cf are escaped', () => {
    for (let cp = 0; cp < 0x10000; cp++) {
      const ch = String.fromCharCode(cp);
      const want = cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp === 0x2028 || cp === 0x2029 || (cp >= 0xd800 && cp <= 0xdfff) || /\p{Cf}/u.test(ch);
      assert.equal(escapeAttackerText(ch) !== ch, want, `U+${cp.toString(16)}`);
    }
  });

  test('linear on 64 KiB of hostile characters', () => {
    const big = (HOSTILE.join('') + 'x').repeat(Math.ceil(65536 / (HOSTILE.length + 1))).slice(0, 65536);
    // CPU time, minimum of five runs: wall time on this shared machine is mostly other processes' time.
    let best = Infinity;
    for (let i = 0; i < 5; i++) {
      const c0 = process.cpuUsage();
      escapeAttackerText(big);
      escapeAttackerText(big, 'json');
      const c = process.cpuUsage(c0);
      best = Math.min(best, (c.user + c.system) / 1000);
    }
    assert.ok(best < 100, `${best} ms`);
  });
});

function event(over: Record<string, unknown> = {}): Parameters<typeof toJsonLogLine>[0] {
  return {
    eventUuid: '018f0000-0000-7000-8000-000000000001', eventTimestamp: '2026-12-04 10:00:00.000000000', eventTimeUs: 0,
    sourceIp: '192.0.2.1', sourcePort: 5060, destinationIp: '127.0.0.1', destinationPort: 5060, transport: 'UDP',
    method: 'OPTIONS', requestUriUser: '100', toUser: '100', calledNumber: '100', calledNumberE164: null,
    userAgent: 'friendly-scanner', sipMessage: 'OPTIONS sip:100@127.0.0.1 SIP/2.0\r\n\r\n', sipMessageRaw: null,
    collectedMethod: 'responsive', createdByNodeId: '00000000-0000-4000-8000-000000000000', origin: 'local',
    originPeerId: null, responseCode: 200, auth: null, sourceVerified: false, sourceCountry: null, sourceCity: null,
    ...over,
  } as Parameters<typeof toJsonLogLine>[0];
}

describe('each output path', () => {
  test('syslog line: raw CSI, U+202E, U+2028 never reach it', () => {
    const line = formatSyslogLine({ sourceIp: '192.0.2.1', method: 'OPTIONS', userAgent: `ua\x9b31m\u202eevil\u2028x${HOSTILE_TEXT}` }, { ident: 'sipwarden', pid: 1, now: new Date(0) });
    assert.ok(line.endsWith('\n'));
    assert.ok(clean(line.slice(0, -1)), JSON.stringify(line));
    assert.match(line, /Agent: ua\\x9b31m\\u202eevil\\u2028x/);
  });

  test('JSON log line: no raw DEL, C1, U+2028/9, bidi; decodes to the same strings; ASCII byte-identical', () => {
    const hostile = event({ sipMessage: `OPTIONS sip:a SIP/2.0\r\nX: ${HOSTILE_TEXT}\r\n\r\n`, userAgent: `u\x7f\x85\u202e` });
    const line = toJsonLogLine(hostile);
    assert.equal(line.indexOf('\n'), line.length - 1);
    assert.ok(clean(line.slice(0, -1)), line);
    assert.equal(JSON.parse(line).sip_message, hostile.sipMessage);
    assert.equal(JSON.parse(line).sip_user_agent, 'u\x7f\x85\u202e');
    const plain = event();
    assert.equal(toJsonLogLine(plain), JSON.stringify(JSON.parse(toJsonLogLine(plain))) + '\n');
    assert.ok(toJsonLogLine(plain).includes('"sip_message":"OPTIONS sip:100@127.0.0.1 SIP/2.0\\r\\n\\r\\n"'));
  });

  test('operational log lines (stderr JSON): safe even when a call site forgets to escape', async () => {
    const chunks: string[] = [];
    const sink = new Writable({ write(c, _e, cb) { chunks.push(String(c)); cb(); } });
    const log = createLogger('info', sink);
    log.info({ ua: `x\x7f\x9b\u2028\u202e${HOSTILE_TEXT}` }, 'probe');
    await new Promise((r) => setImmediate(r));
    const text = chunks.join('');
    assert.ok(text.length > 0);
    for (const line of text.trimEnd().split('\n')) {
      assert.ok(clean(line), line);
      assert.equal(JSON.parse(line).ua, `x\x7f\x9b\u2028\u202e${HOSTILE_TEXT}`);
    }
  });

  test('stored URI users: percent-decoded CR, ESC, NUL, C1 and bidi are escaped', () => {
    const msg = parse(request('INVITE', { ruri: 'sip:a%0d%1b%00%c2%9b%e2%80%aeb@127.0.0.1', headers: ['To: <sip:t%0d%0aX%e2%80%a8@127.0.0.1>'] }));
    const f = extractFields(msg);
    assert.equal(f.requestUriUser, 'a\\x0d\\x1b\\x00\\x9b\\u202eb');
    assert.equal(f.toUser, 't\\x0d\\x0aX\\u2028');
    // Ordinary users unchanged.
    assert.equal(extractFields(parse(request('INVITE', { ruri: 'sip:%2B4312345@h' }))).requestUriUser, '+4312345');
  });
});
