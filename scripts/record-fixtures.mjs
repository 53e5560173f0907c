#!/usr/bin/env node
// Records real scanner traffic for the SIP fixtures under test/fixtures/sip/.
//
// A small capture listener (UDP and TCP on one free loopback port, plus UDP on ::1 when available) answers like a
// simple PBX so that every tool sends its full conversation: extensions 100-109 exist and are challenged with a
// digest 401 (password of 100 is "1234"), other extensions get 404, OPTIONS/BYE/CANCEL get 200, an INVITE to "service"
// (SIPp's default) gets 100/180/200, ACK gets nothing. The challenge names algorithm=MD5 first because nmap 7.93's
// sip-brute only reads `algorithm` when a comma follows it. Each tool runs once, bounded in time, against loopback only.
// Every byte the listener receives is kept exactly; a few representative messages per run become fixture files.
//
// The manifest's expected values come from how each tool was invoked (method, called number, extension range,
// user agent, dictionary password, the challenge this listener sent). The script reads each message with its own
// small regexes only to pick the representative ones and to check it against the invocation; it never uses the
// project's parser, so the tests that compare the parser with the manifest keep asserting something real.
//
// Usage: node scripts/record-fixtures.mjs [--out DIR]   (default test/fixtures/sip). Needs sipvicious, sipsak, sipp,
// nmap (scripts/install-test-tools.sh). Never uses sipvicious' -R/--reportback.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outArg = process.argv.indexOf('--out');
const OUT = outArg > 0 ? resolve(process.argv[outArg + 1]) : join(ROOT, 'test', 'fixtures', 'sip');
const REALM = 'sipwarden-recorder';
const NONCE = '5f2b8c1d0e4a4b7c9d3e6f1a2b3c4d5e';
const PASSWORD = { 100: '1234' };
const md5 = (s) => createHash('md5').update(s).digest('hex');
const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------------
// Minimal, independent reading of a request (only for answering and for checking against the invocation).

/** Splits a message into its request/status line and a lower-cased header map (first value wins, CRLF or LF). */
function peek(bytes) {
  const text = bytes.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const head = end < 0 ? text : text.slice(0, end);
  const lines = head.split(/\r?\n/);
  const first = lines.shift() ?? '';
  const headers = new Map();
  for (const l of lines) {
    const m = /^([^:\s]+)\s*:\s*(.*)$/.exec(l);
    if (m && !headers.has(m[1].toLowerCase())) headers.set(m[1].toLowerCase(), m[2].trim());
  }
  const rl = /^([A-Za-z]+) (\S+) SIP\/2\.0$/.exec(first);
  const h = (n, c) => headers.get(n) ?? (c ? headers.get(c) : undefined) ?? null;
  return { first, method: rl ? rl[1] : null, ruri: rl ? rl[2] : null, h, headers, head };
}
/** The user part of a sip: URI (inside <> when present); null when there is none. */
function userOf(v) {
  if (v === null) return null;
  const inner = /<([^>]*)>/.exec(v);
  const uri = inner ? inner[1] : v.split(';')[0];
  const m = /^sips?:([^@;>]*)@/i.exec(uri);
  return m ? m[1].split(';')[0].split(':')[0] : null;
}
const tagOf = (from) => (from === null ? null : (/;\s*tag=([^;>\s]+)/i.exec(from) ?? [])[1] ?? null);
/** sipvicious puts hex(text 0x01 digits) in its From tag; returns the text or null. */
function sipviciousText(tag) {
  if (tag === null || tag.length % 2 || !/^[0-9a-f]+$/i.test(tag)) return null;
  const m = /^([^\x01]+)\x01(\d{1,10})$/.exec(Buffer.from(tag, 'hex').toString('utf8'));
  return m ? m[1] : null;
}
/** Digest parameters of an Authorization value (simple key=value / key="value" pairs). */
function digestParams(v) {
  const scheme = /^(\S+)/.exec(v)[1];
  const p = {};
  for (const m of v.slice(scheme.length).matchAll(/([a-zA-Z]+)\s*=\s*(?:"([^"]*)"|([^,\s]+))/g)) p[m[1].toLowerCase()] = m[2] ?? m[3];
  return { scheme, p };
}
/** True when `p.response` is the digest of `password` (RFC 2069 form, or the qop=auth form when nc/cnonce are given). */
function digestOk(p, method, password) {
  const ha1 = md5(`${p.username}:${p.realm}:${password}`);
  const ha2 = md5(`${method}:${p.uri}`);
  const plain = md5(`${ha1}:${p.nonce}:${ha2}`);
  const qop = p.nc && p.cnonce ? md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`) : null;
  return (p.response ?? '').toLowerCase() === plain || (p.response ?? '').toLowerCase() === qop;
}

// ---------------------------------------------------------------------------------------------------------------
// The capture listener.

/** Builds the answers (zero or more) this simple PBX gives to one request. */
function answer(bytes) {
  const q = peek(bytes);
  if (q.method === null || q.method === 'ACK') return [];
  const copy = ['via', 'v'].flatMap((n) => [...q.head.split(/\r?\n/)].filter((l) => new RegExp(`^${n}\\s*:`, 'i').test(l)));
  const to = q.h('to', 't') ?? '<sip:unknown@127.0.0.1>';
  const base = (code, reason, extra = [], toTag = true) =>
    Buffer.from(
      [
        `SIP/2.0 ${code} ${reason}`,
        ...copy,
        `From: ${q.h('from', 'f') ?? ''}`,
        `To: ${to}${toTag && !/;\s*tag=/i.test(to) ? ';tag=rec' + code : ''}`,
        `Call-ID: ${q.h('call-id', 'i') ?? ''}`,
        `CSeq: ${q.h('cseq') ?? ''}`,
        ...extra,
        'Server: sipwarden-recorder',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
  if (q.method !== 'REGISTER' && q.method !== 'INVITE') return [base(200, 'OK', ['Contact: <sip:rec@127.0.0.1>'])];
  const user = q.method === 'REGISTER' ? userOf(to) : userOf(q.ruri) ?? userOf(to);
  if (q.method === 'INVITE' && user === 'service') {
    return [base(100, 'Trying', [], false), base(180, 'Ringing'), base(200, 'OK', ['Contact: <sip:service@127.0.0.1>'])];
  }
  const ext = Number(user);
  if (!(user !== null && /^\d+$/.test(user) && ext >= 100 && ext <= 109)) return [base(404, 'Not Found')];
  const auth = q.h('authorization') ?? q.h('proxy-authorization');
  if (auth === null) return [base(401, 'Unauthorized', [`WWW-Authenticate: Digest algorithm=MD5, realm="${REALM}", nonce="${NONCE}"`])];
  const { p } = digestParams(auth);
  const pw = PASSWORD[ext];
  return pw !== undefined && digestOk(p, q.method, pw) ? [base(200, 'OK', ['Contact: <sip:rec@127.0.0.1>;expires=60'])] : [base(403, 'Forbidden')];
}

/** Frames SIP messages out of a TCP byte stream by Content-Length (lenient, only for this recorder). */
function frameTcp(buf) {
  const out = [];
  let at = 0;
  for (;;) {
    while (buf[at] === 13 || buf[at] === 10) at++;
    const rest = buf.subarray(at);
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const cl = Number((/\r\n(?:content-length|l)\s*:\s*(\d+)/i.exec(rest.subarray(0, end).toString('latin1')) ?? [])[1] ?? 0);
    if (rest.length < end + 4 + cl) break;
    out.push({ offset: at, length: end + 4 + cl });
    at += end + 4 + cl;
  }
  return { messages: out, consumed: at };
}

async function startListener() {
  const log = { udp: [], tcp: [] };
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = dgram.createSocket('udp4');
    await new Promise((r, j) => udp.once('error', j).bind(0, '127.0.0.1', () => r()));
    const port = udp.address().port;
    const tcp = net.createServer();
    const ok = await new Promise((r) => {
      tcp.once('error', () => r(false));
      tcp.listen(port, '127.0.0.1', () => r(true));
    });
    if (!ok) {
      udp.close();
      continue;
    }
    let udp6 = dgram.createSocket({ type: 'udp6', ipv6Only: true });
    const ok6 = await new Promise((r) => {
      udp6.once('error', () => r(false));
      udp6.bind(port, '::1', () => r(true));
    });
    if (!ok6) udp6 = null;
    for (const [s, family] of [[udp, 4], [udp6, 6]]) {
      if (s === null) continue;
      s.on('message', (msg, rinfo) => {
        log.udp.push({ bytes: Buffer.from(msg), port: rinfo.port, family });
        for (const a of answer(msg)) s.send(a, rinfo.port, rinfo.address);
      });
    }
    tcp.on('connection', (c) => {
      const conn = { chunks: [], port: c.remotePort };
      log.tcp.push(conn);
      let pending = Buffer.alloc(0);
      c.on('data', (d) => {
        conn.chunks.push(Buffer.from(d));
        pending = Buffer.concat([pending, d]);
        const { messages, consumed } = frameTcp(pending);
        for (const m of messages) for (const a of answer(pending.subarray(m.offset, m.offset + m.length))) c.write(a);
        pending = pending.subarray(consumed);
      });
      c.on('error', () => {});
    });
    const stop = () => {
      udp.close();
      udp6?.close();
      tcp.close();
    };
    return { port, ipv6: udp6 !== null, log, stop, reset: () => ((log.udp = []), (log.tcp = [])) };
  }
  throw new Error('no free port pair for UDP+TCP');
}

async function freeUdpPort() {
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, '127.0.0.1', () => r()));
  const p = s.address().port;
  await new Promise((r) => s.close(() => r()));
  return p;
}

/** Runs a tool, bounded: SIGTERM after `seconds`, SIGKILL 3 s later. Resolves with its exit code and output. */
function run(cmd, args, seconds, cwd) {
  return new Promise((res) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const t = setTimeout(() => {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    }, seconds * 1000);
    child.on('error', (e) => {
      clearTimeout(t);
      res({ code: null, out: String(e) });
    });
    child.on('close', (code) => {
      clearTimeout(t);
      res({ code, out });
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The runs. Each names the tool, how it was invoked, and what that invocation means for every message it sends.

const FRIENDLY = 'friendly-scanner';

/**
 * `expect(q, ctx)` returns the expected fields of one request of the run (from the invocation), or throws when the
 * message does not fit the invocation. `pick` chooses which requests become fixtures (key → at most `max` each).
 */
function runs(P) {
  const hexPort = P.toString(16);
  return [
    {
      name: 'svmap-OPTIONS',
      source: 'sipvicious svmap',
      cmd: (lp) => ['svmap', ['-P', lp, '-p', P, '127.0.0.1']],
      seconds: 30,
      expect: () => ({ method: 'OPTIONS', requestUriUser: '100', toUser: '100', userAgent: FRIENDLY, tagText: `7f000001${hexPort}` }),
      notes: 'Default svmap probe: R-URI and To user 100; the From tag hex-decodes to the target IP and port in hex.',
    },
    {
      name: 'svmap-intl-INVITE',
      source: 'sipvicious svmap',
      cmd: (lp) => ['svmap', ['-P', lp, '-p', P, '-m', 'INVITE', '-e', '0046812118532', '127.0.0.1']],
      seconds: 30,
      expect: () => ({ method: 'INVITE', requestUriUser: '0046812118532', toUser: '100', userAgent: FRIENDLY, tagText: `7f000001${hexPort}` }),
      notes: 'svmap -m INVITE -e NUMBER: the number is in the Request-URI (and Contact) only; To stays 100.',
    },
    {
      name: 'svmap-ipv6-OPTIONS',
      source: 'sipvicious svmap',
      ipv6: true,
      cmd: (lp) => ['svmap', ['-6', '-P', lp, '-p', P, '::1']],
      seconds: 30,
      expect: () => ({ method: 'OPTIONS', requestUriUser: '100', toUser: '100', userAgent: FRIENDLY, tagText: `1${hexPort}` }),
      notes: 'IPv6 svmap: the tag text is the address split on ":" and joined ("::1" gives "1") plus the port in hex.',
    },
    {
      name: 'svwar-REGISTER',
      source: 'sipvicious svwar',
      cmd: (lp) => ['svwar', ['-P', lp, '-p', P, '-e', '98-103', '-m', 'REGISTER', '--maximumtime=20', '127.0.0.1']],
      seconds: 60,
      expect: (q) => svwarExpect(q, 'REGISTER', [98, 103]),
      pick: (q) => [q.method, svwarKind(q, [98, 103])].join(' '),
      max: 2,
      notes: 'svwar enumerates extensions 98-103 (100-103 answered 401, 98-99 answered 404) after a probe for a random extension; the Request-URI has no user; the tag hex-decodes to the extension.',
    },
    {
      name: 'svwar-INVITE',
      source: 'sipvicious svwar',
      cmd: (lp) => ['svwar', ['-P', lp, '-p', P, '-e', '98-103', '-m', 'INVITE', '--maximumtime=20', '127.0.0.1']],
      seconds: 60,
      expect: (q) => svwarExpect(q, 'INVITE', [98, 103]),
      pick: (q) => [q.method, svwarKind(q, [98, 103])].join(' '),
      max: 2,
      notes: 'svwar INVITE enumeration over 98-103; it ACKs every final answer (ACK carries CSeq "1  ACK" and no R-URI user).',
    },
    {
      name: 'svcrack-dict-REGISTER',
      source: 'sipvicious svcrack',
      files: { 'dict.txt': 'password\nadmin\n0000\n1234\nqwerty\n' },
      cmd: (lp) => ['svcrack', ['-P', lp, '-p', P, '-u', '100', '-d', 'dict.txt', '--maximumtime=20', '127.0.0.1']],
      seconds: 60,
      expect: (q) => svcrackExpect(q, ['password', 'admin', '0000', '1234', 'qwerty']),
      pick: (q) => (q.h('authorization') === null ? 'probe' : 'guess ' + sipviciousText(tagOf(q.h('from', 'f')))),
      max: 1,
      notes: 'svcrack with a dictionary (password admin 0000 1234 qwerty) against extension 100 (password 1234): an unauthenticated probe, then one REGISTER per guess whose From tag carries hex("100:<guess>" 0x01 digits) and whose digest is computed from that guess.',
    },
    {
      name: 'svcrack-range-REGISTER',
      source: 'sipvicious svcrack',
      cmd: (lp) => ['svcrack', ['-P', lp, '-p', P, '-u', '100', '-r', '1230-1236', '--maximumtime=20', '127.0.0.1']],
      seconds: 60,
      expect: (q) => svcrackExpect(q, ['100', '1230', '1231', '1232', '1233', '1234', '1235', '1236']),
      pick: (q) => (q.h('authorization') === null ? 'probe' : 'guess ' + sipviciousText(tagOf(q.h('from', 'f')))),
      max: 1,
      limit: 4,
      notes: 'svcrack with the numeric range 1230-1236 (it also tries the user name as password).',
    },
    {
      name: 'sipsak-OPTIONS',
      source: 'sipsak',
      cmd: (lp) => ['sipsak', ['-vv', '-l', lp, '-s', `sip:100@127.0.0.1:${P}`]],
      seconds: 20,
      expect: () => ({ method: 'OPTIONS', requestUriUser: '100', toUser: '100', userAgent: 'sipsak VERSION' }),
      max: 1,
      notes: 'sipsak OPTIONS ping (-s sip:100@...). It sends from a port unlike the one in its Via.',
    },
    {
      name: 'sipsak-tcp-OPTIONS',
      source: 'sipsak',
      transport: 'tcp',
      cmd: () => ['sipsak', ['-vv', '-E', 'tcp', '-s', `sip:100@127.0.0.1:${P}`]],
      seconds: 20,
      expect: () => ({ method: 'OPTIONS', requestUriUser: '100', toUser: '100', userAgent: 'sipsak VERSION' }),
      max: 1,
      notes: 'sipsak OPTIONS over TCP (-E tcp): one request taken from the connection.',
    },
    {
      name: 'sipsak-usrloc-REGISTER',
      source: 'sipsak',
      cmd: (lp) => ['sipsak', ['-vv', '-U', '-l', lp, '-a', '1234', '-s', `sip:100@127.0.0.1:${P}`]],
      seconds: 20,
      expect: (q) => ({ method: q.method, requestUriUser: null, toUser: '100', userAgent: 'sipsak VERSION', password: '1234', method0: ['REGISTER', 'OPTIONS', 'INVITE', 'MESSAGE', 'ACK', 'BYE'] }),
      pick: (q) => `${q.method} ${q.h('authorization') === null ? 'plain' : 'auth'}`,
      only: (q) => q.method === 'REGISTER',
      max: 1,
      notes: 'sipsak usrloc mode (-U -a 1234) as user 100: a REGISTER, then the same with a digest computed from 1234 (sipsak writes username="100@").',
    },
    {
      name: 'sipp-uac-INVITE',
      source: 'SIPp',
      files: {},
      cmd: (lp) => ['sipp', [`127.0.0.1:${P}`, '-sn', 'uac', '-i', '127.0.0.1', '-p', lp, '-m', '1', '-d', '200', '-timeout', '20s', '-nostdin']],
      seconds: 40,
      expect: (q) => ({ method: q.method, method0: ['INVITE', 'ACK', 'BYE'], requestUriUser: 'service', toUser: 'service', userAgent: null }),
      pick: (q) => q.method,
      max: 1,
      notes: "SIPp's built-in uac scenario (INVITE, 200, ACK, pause, BYE) to its default user \"service\"; no User-Agent.",
    },
    {
      name: 'sipp-uac-tcp',
      source: 'SIPp',
      transport: 'tcp',
      stream: true,
      files: {},
      cmd: (lp) => ['sipp', [`127.0.0.1:${P}`, '-sn', 'uac', '-t', 't1', '-i', '127.0.0.1', '-p', lp, '-m', '2', '-r', '2', '-d', '200', '-timeout', '20s', '-nostdin']],
      seconds: 40,
      expect: (q) => ({ method: q.method, method0: ['INVITE', 'ACK', 'BYE'], requestUriUser: 'service', toUser: 'service', userAgent: null }),
      notes: 'SIPp uac over TCP (-t t1, two calls on one connection): every byte the listener received, in order, with the boundaries of each read.',
    },
    {
      name: 'sipp-register-tcp-REGISTER',
      source: 'SIPp',
      transport: 'tcp',
      files: { 'register.xml': SIPP_REGISTER },
      cmd: (lp) => ['sipp', [`127.0.0.1:${P}`, '-sf', 'register.xml', '-t', 't1', '-i', '127.0.0.1', '-p', lp, '-m', '1', '-timeout', '20s', '-nostdin']],
      seconds: 40,
      expect: () => ({ method: 'REGISTER', requestUriUser: null, toUser: '100', userAgent: SPOOFED_UA, password: '1234' }),
      pick: (q) => (q.h('authorization') === null ? 'plain' : 'auth'),
      max: 1,
      notes: `SIPp over TCP with the script's own scenario (register.xml): REGISTER, 401, REGISTER with [authentication] as 100 / 1234, 200; spoofed User-Agent "${SPOOFED_UA}".`,
    },
    {
      name: 'nmap-sip-brute',
      source: 'nmap',
      files: { 'nmap-services': `sip\t${P}/udp\t0.9\n`, 'users.txt': '100\n101\n', 'pass.txt': 'secret\n1234\n' },
      cmd: () => ['nmap', ['-n', '-Pn', '-sU', '-p', P, '--datadir', '.', '--script', 'sip-brute', '--script-args', 'userdb=users.txt,passdb=pass.txt', '127.0.0.1']],
      seconds: 120,
      expect: (q) => nmapBruteExpect(q, ['100', '101'], ['secret', '1234']),
      pick: (q) => (q.method === null ? 'empty' : `${userOf(q.h('to', 't'))} ${q.h('authorization') === null ? 'plain' : 'auth'}`),
      only: (q) => q.method === 'REGISTER',
      max: 2,
      notes: 'nmap sip-brute (userdb 100 101, passdb secret 1234): REGISTERs with digests computed from each guess.',
    },
    {
      name: 'nmap-sv-tcp',
      source: 'nmap',
      transport: 'tcp',
      rawConnections: true,
      files: { 'nmap-services': `sip\t${P}/tcp\t0.9\n` },
      cmd: () => ['nmap', ['-n', '-Pn', '-sT', '-sV', '-p', P, '--datadir', '.', '127.0.0.1']],
      seconds: 240,
      classify: nmapProbe,
      expect: () => ({ method: 'OPTIONS', requestUriUser: null, toUser: 'nm2', userAgent: null }),
      pick: (q, bytes) => nmapProbe(bytes)?.probe ?? 'other',
      max: 1,
      notes: "nmap -sT -sV service detection: each file is everything one probe connection sent (probes from nmap's own nmap-service-probes: its SIP OPTIONS, HTTP GET, RTSP OPTIONS, DNS version.bind, TLS ClientHello, HELP, a bare CRLFCRLF).",
    },
    {
      name: 'nmap-sip',
      source: 'nmap',
      files: { 'nmap-services': `sip\t${P}/udp\t0.9\nsip\t${P}/tcp\t0.9\n` },
      cmd: () => [
        'nmap',
        ['-n', '-Pn', '-sU', '-p', P, '--datadir', '.', '--script', 'sip-methods,sip-enum-users', '--script-args',
          'sip-enum-users.minext=98,sip-enum-users.maxext=103', '127.0.0.1'],
      ],
      seconds: 120,
      expect: (q) => nmapExpect(q, [98, 103]),
      pick: (q) => (q.method === null ? 'empty' : [q.method, nmapKind(q, [98, 103])].join(' ')),
      max: 2,
      notes: 'nmap -sU with sip-methods (OPTIONS) and sip-enum-users (REGISTER for extensions 98-103 after a random probe); an nmap-services file in --datadir names the free port "sip" so the scripts run on it (nmap reads its other data files from its usual place).',
    },
    {
      name: 'nmap-sip-ipv6',
      source: 'nmap',
      ipv6: true,
      files: { 'nmap-services': `sip\t${P}/udp\t0.9\n` },
      cmd: () => [
        'nmap',
        ['-6', '-n', '-Pn', '-sU', '-p', P, '--datadir', '.', '--script', 'sip-methods,sip-enum-users', '--script-args',
          'sip-enum-users.minext=100,sip-enum-users.maxext=101', '::1'],
      ],
      seconds: 120,
      expect: (q) => nmapExpect(q, [100, 101]),
      pick: (q) => (q.method === null ? 'empty' : [q.method, nmapKind(q, [100, 101])].join(' ')),
      max: 1,
      notes: 'nmap over IPv6: it writes the address unbracketed (e.g. "OPTIONS sip:::1 SIP/2.0", To <sip:user@::1>).',
    },
  ];
}

const SPOOFED_UA = 'Grandstream GXP2135 1.0.9.135';
const SIPP_REGISTER = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="register with digest">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:100@[remote_ip]>;tag=[pid]SIPpTag[call_number]
      To: <sip:100@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:100@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Expires: 60
      User-Agent: ${SPOOFED_UA}
      Content-Length: 0

    ]]>
  </send>
  <recv response="401" auth="true" />
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:100@[remote_ip]>;tag=[pid]SIPpTag[call_number]
      To: <sip:100@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:100@[local_ip]:[local_port];transport=[transport]>
      [authentication username=100 password=1234]
      Max-Forwards: 70
      Expires: 60
      User-Agent: ${SPOOFED_UA}
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" />
</scenario>
`;

/** nmap sip-brute: the user is one of userdb (or its random probe user); an authorized guess uses a passdb password. */
function nmapBruteExpect(q, users, passwords) {
  const to = userOf(q.h('to', 't'));
  const base = { method: 'REGISTER', requestUriUser: null, toUser: to, userAgent: 'Nmap NSE' };
  const auth = q.h('authorization');
  if (auth === null) {
    if (!users.includes(to) && !/^baduser-\d+$/.test(to ?? '')) throw new Error(`nmap sip-brute user ${to}`);
    return base;
  }
  if (!users.includes(to)) throw new Error(`nmap sip-brute guessed for ${to}`);
  const { p } = digestParams(auth);
  // nmap's brute library also tries each user name as its password (brute.useraspass, on by default).
  const password = [...passwords, to].find((pw) => digestOk(p, 'REGISTER', pw));
  if (password === undefined) throw new Error(`nmap sip-brute digest from no passdb password: ${auth}`);
  return { ...base, password };
}

/** Which of nmap's -sV probes (nmap-service-probes) a connection's bytes are; null for the ones not kept. */
function nmapProbe(bytes) {
  const t = bytes.toString('latin1');
  if (t.startsWith('OPTIONS sip:nm SIP/2.0')) return { probe: 'SIPOptions', kind: 'request' };
  if (t === '\r\n\r\n') return { probe: 'GenericLines', kind: 'keepalive' };
  if (t.startsWith('GET / HTTP/1.0')) return { probe: 'GetRequest', kind: 'non-sip' };
  if (t.startsWith('OPTIONS / RTSP/1.0')) return { probe: 'RTSPRequest', kind: 'non-sip' };
  if (t === 'HELP\r\n') return { probe: 'Help', kind: 'non-sip' };
  if (t.includes('\x07version\x04bind')) return { probe: 'DNSVersionBindReqTCP', kind: 'garbage' };
  if (bytes[0] === 0x16 && bytes[1] === 0x03) return { probe: 'TLS', kind: 'garbage' };
  return null;
}

function svwarKind(q, [lo, hi]) {
  const ext = Number(userOf(q.h('to', 't')));
  if (ext >= lo && ext <= hi) return ext >= 100 && ext <= 109 ? 'known' : 'unknown';
  return 'probe';
}
function svwarExpect(q, method, [lo, hi]) {
  const to = userOf(q.h('to', 't'));
  const tagText = sipviciousText(tagOf(q.h('from', 'f')));
  if (q.method !== method && !(method === 'INVITE' && q.method === 'ACK')) throw new Error(`svwar sent ${q.method}`);
  const ext = Number(to);
  // The probe extension is random: svwar writes it in its From tag, which must agree.
  if (!(ext >= lo && ext <= hi) && tagText !== to) throw new Error(`svwar extension ${to} outside ${lo}-${hi} and not its probe`);
  return {
    method: q.method,
    requestUriUser: method === 'INVITE' && q.method === 'INVITE' ? to : null,
    toUser: to,
    userAgent: FRIENDLY,
    tagText: to,
  };
}
function svcrackExpect(q, dictionary) {
  const tagText = sipviciousText(tagOf(q.h('from', 'f')));
  const base = { method: 'REGISTER', requestUriUser: null, toUser: '100', userAgent: FRIENDLY };
  if (q.h('authorization') === null) return { ...base, tagText };
  const [user, ...rest] = (tagText ?? '').split(':');
  const password = rest.join(':');
  if (user !== '100' || !dictionary.includes(password)) throw new Error(`svcrack tag ${tagText} is not a guess for 100`);
  return { ...base, tagText, password, credential: { username: user, password, tag: tagOf(q.h('from', 'f')) } };
}
function nmapKind(q, [lo, hi]) {
  if (q.method !== 'REGISTER') return 'x';
  const ext = Number(userOf(q.h('to', 't')));
  return ext >= lo && ext <= hi ? (ext >= 100 ? 'known' : 'unknown') : 'probe';
}
function nmapExpect(q, [lo, hi]) {
  if (q.method === null) return null;
  const to = userOf(q.h('to', 't'));
  if (q.method === 'OPTIONS') return { method: 'OPTIONS', requestUriUser: null, toUser: 'user', userAgent: 'Nmap NSE' };
  if (q.method !== 'REGISTER') throw new Error(`nmap sent ${q.method}`);
  // The probe extension is a random number well outside the range; the range itself comes from the script args.
  const ext = Number(to);
  if (!(ext >= lo && ext <= hi) && !(/^\d+$/.test(to ?? '') && ext > 100000)) throw new Error(`nmap extension ${to}`);
  return { method: 'REGISTER', requestUriUser: null, toUser: to, userAgent: 'Nmap NSE' };
}

// ---------------------------------------------------------------------------------------------------------------

/** Checks a request against the invocation's expectations and returns its manifest fields. */
function describeRequest(run, bytes, q, version) {
  const e = run.expect(q, {});
  if (e === null) return null;
  const ua = e.userAgent === null ? null : e.userAgent.replace('VERSION', version);
  const allowed = e.method0 ?? [e.method];
  if (!allowed.includes(q.method)) throw new Error(`${run.name}: method ${q.method} not from this invocation`);
  // The invocation's values must be what is on the wire (a tool that changed behaviour must be noticed here).
  const got = { requestUriUser: userOf(q.ruri), toUser: userOf(q.h('to', 't')), userAgent: q.h('user-agent') };
  for (const k of ['requestUriUser', 'toUser']) if (got[k] !== e[k]) throw new Error(`${run.name}: ${k} ${got[k]} != invoked ${e[k]}`);
  if (got.userAgent !== ua) throw new Error(`${run.name}: User-Agent ${got.userAgent} != ${ua}`);
  if (e.tagText !== undefined && sipviciousText(tagOf(q.h('from', 'f'))) !== e.tagText) throw new Error(`${run.name}: tag text`);
  let authorization = null;
  const authValue = q.h('authorization') ?? q.h('proxy-authorization');
  if (authValue !== null) {
    const { scheme, p } = digestParams(authValue);
    // The digest must be the one the invoked password gives against this listener's own challenge.
    if (p.realm !== REALM || p.nonce !== NONCE) throw new Error(`${run.name}: challenge not echoed`);
    if (!digestOk(p, q.method, e.password)) throw new Error(`${run.name}: digest does not match password ${e.password}`);
    authorization = {
      header: q.h('authorization') !== null ? 'Authorization' : 'Proxy-Authorization',
      scheme,
      username: p.username ?? null,
      realm: REALM,
      nonce: NONCE,
      uri: p.uri ?? null,
      response: p.response ?? null,
      algorithm: p.algorithm ?? null,
      qop: p.qop ?? null,
    };
  }
  return {
    kind: 'request',
    method: q.method,
    requestUriUser: e.requestUriUser,
    toUser: e.toUser,
    userAgent: ua,
    authorization,
    decodedSipviciousTagCredential: e.credential ?? null,
    sipviciousTagDecoded: e.tagText ?? null,
    callIdPresent: true,
    expected: 'capture',
  };
}

async function toolVersion(cmd) {
  if (cmd === 'sipsak') {
    const r = await run('sipsak', ['-V'], 10);
    return (/sipsak (\d[\d.]*)/.exec(r.out) ?? [])[1] ?? '';
  }
  if (cmd === 'sipp') return (/SIPp v?([\d.]+)/.exec((await run('sipp', ['-v'], 10)).out) ?? [])[1] ?? '';
  if (cmd === 'nmap') return (/Nmap version ([\d.]+)/.exec((await run('nmap', ['--version'], 10)).out) ?? [])[1] ?? '';
  const r = await run(cmd, ['--version'], 10);
  return (/(\d+\.\d+\.\d+)/.exec(r.out) ?? [])[1] ?? '';
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  // Only the script's own outputs are replaced (README.md stays).
  for (const f of readdirSync(OUT)) if (/^\d\d-.*\.sip$/.test(f)) rmSync(join(OUT, f));
  rmSync(join(OUT, 'tcp-streams'), { recursive: true, force: true });
  const L = await startListener();
  const entries = [];
  let n = 0;
  const name = (slug, method) => `${String(++n).padStart(2, '0')}-${slug}-${method ?? 'none'}`;
  try {
    for (const r of runs(L.port)) {
      if (r.ipv6 && !L.ipv6) {
        console.error(`skip ${r.name}: ::1 not available`);
        continue;
      }
      const dir = mkdtempSync(join(tmpdir(), 'sipwarden-rec-'));
      try {
        for (const [f, text] of Object.entries(r.files ?? {})) writeFileSync(join(dir, f), text);
        const lp = String(await freeUdpPort());
        const [cmd, args] = r.cmd(lp);
        const argv = args.map(String);
        const version = await toolVersion(cmd);
        L.reset();
        const res = await run(cmd, argv, r.seconds, dir);
        await sleep(500);
        const command = [cmd, ...argv].join(' ');
        console.error(`${r.name}: exit ${res.code}, ${L.log.udp.length} datagrams, ${L.log.tcp.length} connections`);
        const source = `${r.source} ${version}`.trim();
        const common = { source, command, transport: r.transport ?? 'udp', ipVersion: r.ipv6 ? 6 : 4 };
        if (r.stream) {
          const conn = L.log.tcp.find((c) => c.chunks.length > 0);
          if (!conn) throw new Error(`${r.name}: no TCP connection`);
          const data = Buffer.concat(conn.chunks);
          const { messages, consumed } = frameTcp(data);
          if (consumed !== data.length) throw new Error(`${r.name}: stream does not end on a message`);
          let off = 0;
          const chunks = conn.chunks.map((c) => ({ offset: (off += c.length) - c.length, length: c.length }));
          const base = `tcp-streams/${name(r.name, 'stream').replace(/-stream$/, '')}`;
          mkdirSync(join(OUT, 'tcp-streams'), { recursive: true });
          writeFileSync(join(OUT, `${base}.stream`), data);
          writeFileSync(join(OUT, `${base}.chunks.json`), JSON.stringify({ chunks, messages: messages.map((m) => ({ ...m, kind: 'request' })) }, null, 2) + '\n');
          entries.push({
            file: `${base}.stream`,
            ...common,
            capturedSourcePort: conn.port,
            kind: 'tcp-stream',
            method: null,
            requestUriUser: null,
            toUser: null,
            userAgent: null,
            callIdPresent: null,
            expected: 'capture',
            size: data.length,
            sha256: sha256(data),
            chunksFile: `${base}.chunks.json`,
            chunks,
            messages: messages.map((m) => {
              const bytes = data.subarray(m.offset, m.offset + m.length);
              const d = describeRequest(r, bytes, peek(bytes), version);
              return { offset: m.offset, length: m.length, ...d, sha256: sha256(bytes) };
            }),
            notes: r.notes,
          });
          continue;
        }
        const items = r.rawConnections
          ? L.log.tcp.map((c) => ({ bytes: Buffer.concat(c.chunks), port: c.port })).filter((it) => it.bytes.length > 0)
          : (r.transport ?? 'udp') === 'tcp'
            ? L.log.tcp.flatMap((c) => {
                const data = Buffer.concat(c.chunks);
                return frameTcp(data).messages.map((m) => ({ bytes: data.subarray(m.offset, m.offset + m.length), port: c.port }));
              })
            : L.log.udp;
        const seen = new Map();
        let kept = 0;
        for (const it of items) {
          const q = peek(it.bytes);
          if (r.only && !r.only(q)) continue;
          const cls = r.classify ? r.classify(it.bytes) : { kind: 'request' };
          if (cls === null) continue;
          const key = r.pick ? r.pick(q, it.bytes) : q.method ?? 'none';
          const count = seen.get(key) ?? 0;
          if (count >= (r.max ?? 1)) continue;
          if (r.limit !== undefined && kept >= r.limit) break;
          let d;
          if (cls.kind !== 'request') {
            d = { kind: cls.kind, method: null, requestUriUser: null, toUser: null, userAgent: null, authorization: null, decodedSipviciousTagCredential: null, sipviciousTagDecoded: null, callIdPresent: false, expected: 'ignore-no-crash' };
          } else if (it.bytes.length === 0) {
            d = { kind: 'empty', method: null, requestUriUser: null, toUser: null, userAgent: null, authorization: null, decodedSipviciousTagCredential: null, sipviciousTagDecoded: null, callIdPresent: false, expected: 'ignore-no-crash' };
          } else {
            d = describeRequest(r, it.bytes, q, version);
            if (d === null) continue;
          }
          seen.set(key, count + 1);
          kept++;
          const slug = r.name.replace(/-[A-Z]+$/, '') + (cls.probe ? `-${cls.probe}` : '');
          const file = `${name(slug, d.method)}.sip`;
          writeFileSync(join(OUT, file), it.bytes);
          entries.push({ file, ...common, capturedSourcePort: it.port, ...d, size: it.bytes.length, sha256: sha256(it.bytes), notes: r.notes });
        }
        if (kept === 0) throw new Error(`${r.name}: nothing recorded (tool output: ${res.out.slice(0, 500)})`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    L.stop();
  }
  const manifest = {
    description: 'SIP traffic recorded from real scanners by scripts/record-fixtures.mjs (see README.md)',
    fieldsDoc: 'README.md',
    recordedWith: { realm: REALM, nonce: NONCE, passwords: PASSWORD },
    count: entries.length,
    entries,
  };
  writeFileSync(join(OUT, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  console.error(`wrote ${entries.length} entries to ${OUT}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
