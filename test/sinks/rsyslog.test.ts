/**
 * The syslog sink against real programs: the exact datagram bytes on a bound unix socket and a UDP socket;
 * rsyslogd (foreground fixture, private imuxsock socket + imudp) writing a file; fail2ban-regex with the
 * shipped filter extracting exactly the right IPs from that file, hostile user agents included.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import unixDgram from 'unix-dgram';
import { createSyslogSink } from '../../src/sinks/syslog.js';
import type { HoneypotEvent } from '../../src/events/event.js';
import {
  fail2banRegexIps, freeUdpPort, installFilter, makeEvent, metricValue, quietLogger, quietMetrics, startRsyslog, type Rsyslog,
} from './helpers.js';

const LOCAL_RE = /^<13>(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 123]\d \d\d:\d\d:\d\d sipwarden\[(\d+)\]: Source IP: (\S+), Method: (\S+), Agent: (.*)\n$/;

// Hostile inputs: raw control characters (as a buggy producer or a peer might hand them over) and text that
// imitates a second record. None may yield another line, another match or another IP.
const FORGED = 'Nov 24 17:48:52 host sipwarden[1]: Source IP: 6.6.6.6, Method: OPTIONS, Agent: x';
function events(): HoneypotEvent[] {
  return [
    makeEvent({ sourceIp: '203.0.113.7', userAgent: 'sipsak 0.9.8.1' }),
    makeEvent({ sourceIp: '2001:db8::7', method: 'INVITE', userAgent: 'friendly-scanner' }),
    makeEvent({ sourceIp: '198.51.100.1', userAgent: 'x, Source IP: 6.6.6.6, Method: INVITE' }),
    makeEvent({ sourceIp: '198.51.100.2', userAgent: `a\r\n${FORGED}` }),
    makeEvent({ sourceIp: '198.51.100.3', userAgent: `a\n<13>${FORGED}\r` }),
    makeEvent({ sourceIp: '198.51.100.4', userAgent: `nul\x00${FORGED}\x1b[2J\x7f` }),
    makeEvent({ sourceIp: '198.51.100.5', userAgent: `a\\x0d\\x0a${FORGED}` }), // the stored, escaped form
    makeEvent({ sourceIp: '2001:db8::9', method: `OPTIONS\n${FORGED}`, userAgent: 'NOT_FOUND' }),
    makeEvent({ sourceIp: '198.51.100.6', userAgent: `sep\u2028${FORGED}\u0085` }),
  ];
}
const EXPECTED_IPS = events().map((e) => e.sourceIp);

describe('syslog sink: exact datagrams', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'sw-syslog-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('unix socket: the syslog format line, local time, no host name, one datagram per event', async () => {
    const path = join(dir, 'recv.sock');
    const got: string[] = [];
    const rx = unixDgram.createSocket('unix_dgram', (msg: Buffer) => got.push(msg.toString('utf8')));
    rx.bind(path);
    try {
      const m = quietMetrics();
      const sink = createSyslogSink({ target: `unix:${path}`, ident: 'sipwarden', metrics: m, logger: quietLogger(), pid: 4242 });
      await sink.start();
      const evs = events();
      const before = new Date();
      for (const e of evs) sink.offer(e);
      await sink.stop();
      const t0 = Date.now();
      while (got.length < evs.length && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 10));
      assert.equal(got.length, evs.length);
      assert.equal(
        got[0]!.slice(20),
        'sipwarden[4242]: Source IP: 203.0.113.7, Method: OPTIONS, Agent: sipsak 0.9.8.1\n',
      );
      const month = before.toLocaleString('en-US', { month: 'short' });
      for (const [i, line] of got.entries()) {
        const mm = LOCAL_RE.exec(line);
        assert.ok(mm, `line ${i} does not match: ${JSON.stringify(line)}`);
        assert.equal(mm[1], month);
        assert.equal(mm[2], '4242');
        assert.equal(mm[3], evs[i]!.sourceIp);
        assert.equal(line.indexOf('\n'), line.length - 1, 'exactly one newline, at the end');
        assert.ok(!line.includes('\r') && !line.includes('\x00') && !line.includes('\x1b'));
      }
      assert.equal(await metricValue(m, 'sipwarden_sink_delivered_total', { sink: 'syslog' }), evs.length);
    } finally {
      rx.close();
    }
  });

  test('udp://: host name after the time, no trailing newline', async () => {
    const rx = dgram.createSocket('udp4');
    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
    const got: string[] = [];
    rx.on('message', (m) => got.push(m.toString('utf8')));
    try {
      const sink = createSyslogSink({
        target: `udp://127.0.0.1:${rx.address().port}`, ident: 'sentrypeer', metrics: quietMetrics(), logger: quietLogger(), hostname: 'hp1', pid: 7,
      });
      await sink.start();
      sink.offer(makeEvent());
      await sink.stop();
      const t0 = Date.now();
      while (!got.length && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 10));
      assert.match(got[0]!, /^<13>\w{3} [ 123]\d \d\d:\d\d:\d\d hp1 sentrypeer\[7\]: Source IP: 203\.0\.113\.7, Method: OPTIONS, Agent: sipsak 0\.9\.8\.1$/);
    } finally {
      rx.close();
    }
  });

  test('missing socket: dropped and counted, warned once, retried after the retry interval, reopen() reconnects', async () => {
    const path = join(dir, 'late.sock');
    const m = quietMetrics();
    const warnings: string[] = [];
    const origWrite = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (warnings.push(String(s)), true)) as typeof process.stderr.write;
    const got: string[] = [];
    let rx: ReturnType<typeof unixDgram.createSocket> | null = null;
    try {
      const sink = createSyslogSink({ target: path, ident: 'sipwarden', metrics: m, logger: quietLogger(), retryMs: 300 });
      await sink.start();
      for (let i = 0; i < 3; i++) sink.offer(makeEvent());
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(await metricValue(m, 'sipwarden_sink_dropped_total', { sink: 'syslog' }), 3);
      assert.equal(warnings.filter((w) => w.includes('syslog')).length, 1);
      rx = unixDgram.createSocket('unix_dgram', (msg: Buffer) => got.push(msg.toString()));
      rx.bind(path);
      sink.offer(makeEvent()); // still inside the retry interval: dropped without trying
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(got.length, 0);
      await new Promise((r) => setTimeout(r, 350));
      sink.offer(makeEvent({ sourceIp: '192.0.2.1' }));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(got.length, 1);
      assert.match(got[0]!, /Source IP: 192\.0\.2\.1,/);
      sink.reopen!();
      sink.offer(makeEvent({ sourceIp: '192.0.2.2' }));
      await sink.stop();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(got.length, 2);
      assert.equal(warnings.filter((w) => w.includes('syslog')).length, 1, 'warned once per outage');
    } finally {
      process.stderr.write = origWrite;
      rx?.close();
    }
  });
});

describe('syslog sink → rsyslogd → fail2ban-regex with the shipped filter', () => {
  let dir: string;
  let rs: Rsyslog;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sw-rsyslog-'));
    rs = await startRsyslog(dir, { udpPort: await freeUdpPort() });
  });
  after(async () => {
    await rs?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('both targets and both idents: lines arrive in the exact format; the filter extracts exactly the real IPs', async () => {
    const m = quietMetrics();
    const sinks = [
      createSyslogSink({ target: `unix:${rs.socket}`, ident: 'sipwarden', metrics: m, logger: quietLogger() }),
      createSyslogSink({ target: `udp://127.0.0.1:${rs.udpPort}`, ident: 'sipwarden', metrics: m, logger: quietLogger(), hostname: 'hp-test' }),
      createSyslogSink({ target: rs.socket, ident: 'sentrypeer', metrics: m, logger: quietLogger() }),
    ];
    for (const s of sinks) await s.start();
    for (const s of sinks) for (const e of events()) s.offer(e);
    for (const s of sinks) await s.stop();
    const want = EXPECTED_IPS.length * sinks.length;
    const t0 = Date.now();
    const ours = (): string[] => rs.lines().filter((l) => / (sipwarden|sentrypeer)\[\d+\]: /.test(l));
    while (ours().length < want && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
    const lines = ours();
    assert.equal(lines.length, want, `rsyslog wrote:\n${rs.lines().join('\n')}`);
    const FILE_RE = /^\w{3} [ 123]\d \d\d:\d\d:\d\d (\S+) (sipwarden|sentrypeer)\[(\d+)\]: Source IP: (\S+), Method: (\S+), Agent: (.*)$/;
    for (const line of lines) {
      const mm = FILE_RE.exec(line);
      assert.ok(mm, `unexpected line: ${line}`);
      assert.equal(mm[3], String(process.pid));
      // eslint-disable-next-line no-control-regex
      assert.ok(!/[\x00-\x1f\x7f]|#0\d\d/.test(line), `control characters reached the file: ${line}`);
    }
    assert.ok(lines.some((l) => / hp-test sipwarden\[/.test(l)), 'udp line carries our host name');
    assert.ok(lines.some((l) => / sentrypeer\[/.test(l)));
    assert.ok(lines.some((l) => l.includes('Agent: sipsak 0.9.8.1')));

    const filter = installFilter(dir);
    const { ips, summary } = fail2banRegexIps(rs.file, filter);
    // One match per event line, in order, with the real source; never the forged 6.6.6.6.
    assert.equal(ips.length, want, summary);
    assert.ok(!ips.includes('6.6.6.6'));
    // The three sinks write concurrently, so their lines interleave in the file: compare as a multiset.
    assert.deepEqual([...ips].sort(), [...EXPECTED_IPS, ...EXPECTED_IPS, ...EXPECTED_IPS].sort());
    assert.deepEqual(ips.filter((ip) => ip.includes(':')).sort(), Array.from({ length: sinks.length }, () => ['2001:db8::7', '2001:db8::9']).flat().sort());
    assert.match(summary, new RegExp(`${want} matched`));
  });

  test('a burst larger than the socket queue (max_dgram_qlen) arrives whole: EAGAIN is retried, not dropped', async () => {
    const m = quietMetrics();
    const sink = createSyslogSink({ target: `unix:${rs.socket}`, ident: 'sipwarden', metrics: m, logger: quietLogger() });
    await sink.start();
    const N = 2000;
    for (let i = 0; i < N; i++) sink.offer(makeEvent({ sourceIp: '192.0.2.77', userAgent: `burst ${i}` }));
    await sink.stop();
    const count = (): number => rs.lines().filter((l) => l.includes('Source IP: 192.0.2.77,')).length;
    const t0 = Date.now();
    while (count() < N && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
    assert.equal(count(), N);
    assert.equal(await metricValue(m, 'sipwarden_sink_dropped_total', { sink: 'syslog' }), 0);
    assert.equal(await metricValue(m, 'sipwarden_sink_delivered_total', { sink: 'syslog' }), N);
  });
});
