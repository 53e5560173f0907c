/**
 * The shipped Kamailio config (deploy/kamailio/kamailio.cfg) with real parts in network namespaces this test
 * creates: a "proxy" namespace with Kamailio 5.6, sipwarden (capture + API) and a sipp UAS behind Kamailio, and a
 * "callers" namespace joined by a veth pair whose addresses are attackers and a clean caller.
 *
 * Attackers first probe sipwarden over TCP (proven sources). Then, through Kamailio: an INVITE from the probing
 * address gets 403; an INVITE to the number three attackers called gets 403; a clean INVITE reaches the UAS
 * (200). Fail open within the 200 ms budget: with sipwarden hung (SIGSTOP: the kernel accepts, nobody answers),
 * with a listener that accepts and never replies, and with the port closed, the attacker's call still reaches the
 * UAS, and the delay the check adds (sipp's own INVITE→200 response time, against the same call with sipwarden
 * answering) stays within a bounded window.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';
import { runTool } from '../helpers/net.js';

const CFG = join(ROOT, 'deploy', 'kamailio', 'kamailio.cfg');
const TOKEN = 'kamailio-check-token';
const PROXY_IP = '198.18.7.1';
const ATTACKER = '198.18.7.10';
const NUMBER_ATTACKERS = ['198.18.7.11', '198.18.7.12', '198.18.7.13'];
const CLEAN = '198.18.7.20';
const NUMBER = '0046812118532';
// Ports inside the test's own namespace (nothing else listens there).
const KAM_PORT = 15060;
const SW_SIP_PORT = 25060;
const SW_API_PORT = 18082;
const UAS_PORT = 35060;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
}

const SDP = `v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
`;

const INVITE = `INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

${SDP}`;

/** UAC that must be refused with 403. */
const EXPECT_403 = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="expect 403">
  <send retrans="500"><![CDATA[
${INVITE}
]]></send>
  <recv response="100" optional="true"/>
  <recv response="403" rtd="true"/>
</scenario>
`;

/** UAC whose call must reach the UAS: 200, ACK and BYE along the recorded route. */
const EXPECT_200 = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="expect 200">
  <send retrans="500"><![CDATA[
${INVITE}
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true" rtd="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
[routes]
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

]]></send>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
[routes]
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>
`;

/** The UAS behind Kamailio: answers 200 (copying Record-Route, as RFC 3261 requires), takes ACK and BYE. */
const UAS = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uas">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

${SDP}
]]></send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
`;

describe('Kamailio call-check with the shipped config', { timeout: 180_000 }, () => {
  const nsP = `swCcP${process.pid}`;
  const nsC = `swCcC${process.pid}`;
  const vP = `swcp${process.pid}`.slice(0, 15);
  const vC = `swcc${process.pid}`.slice(0, 15);
  const dir = mkdtempSync(join(tmpdir(), 'sipwarden-kamailio-'));
  const children: ChildProcess[] = [];
  let sw: Daemon | null = null;
  let kamLog = '';

  const spawnIn = (ns: string, cmd: string, args: string[]): ChildProcess => {
    const p = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(p);
    return p;
  };

  let calls = 0;
  /**
   * One call from `src` to `number` through Kamailio; resolves whether the scenario completed and sipp's own
   * INVITE→final-answer time (its response-time trace, free of the cost of starting sipp).
   */
  async function call(src: string, number: string, scenario: 'EXPECT_403' | 'EXPECT_200'): Promise<{ ok: boolean; rtdMs: number; out: string }> {
    // A scenario file per call, so each call's response-time trace has its own name.
    const name = `${scenario}_${++calls}`;
    writeFileSync(join(dir, `${name}.xml`), scenario === 'EXPECT_403' ? EXPECT_403 : EXPECT_200);
    const r = await runTool('ip', [
      'netns', 'exec', nsC, 'sipp', `${PROXY_IP}:${KAM_PORT}`, '-sf', join(dir, `${name}.xml`), '-s', number,
      '-i', src, '-p', '0', '-m', '1', '-nostdin', '-timeout', '15s', '-timeout_error', '-max_recv_loops', '1000',
      '-trace_rtt', '-rtt_freq', '1',
    ], 25_000, { cwd: dir });
    let rtdMs = NaN;
    const trace = readdirSync(dir).find((f) => f.startsWith(`${name}_`) && f.endsWith('_rtt.csv'));
    if (trace) {
      // Lines "date_ms;response_time_ms;rtd_no" after a header line.
      for (const line of readFileSync(join(dir, trace), 'utf8').split('\n')) {
        const v = Number(line.split(';')[1]);
        if (line.trim() !== '' && Number.isFinite(v)) rtdMs = v;
      }
    }
    return { ok: r.code === 0, rtdMs, out: r.stdout.slice(-1500) + r.stderr.slice(-1500) };
  }

  /** Median response time of `n` calls from `src` that must go through. */
  async function medianCall(src: string, n: number, what: string): Promise<number> {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const r = await call(src, '100', 'EXPECT_200');
      assert.ok(r.ok, `${what}: ${r.out}`);
      assert.ok(Number.isFinite(r.rtdMs), `${what}: sipp wrote no response time`);
      times.push(r.rtdMs);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)]!;
  }

  /** A proven (TCP) INVITE from `src` to sipwarden's SIP port. */
  function probe(src: string, number: string): void {
    sh('ip', ['netns', 'exec', nsC, process.execPath, '-e', `
      const s = require('node:net').connect({ host: '${PROXY_IP}', port: ${SW_SIP_PORT}, localAddress: '${src}' }, () => {
        s.write('INVITE sip:${number}@${PROXY_IP} SIP/2.0\\r\\nVia: SIP/2.0/TCP ${src}:5062;branch=z9hG4bK' + Math.random().toString(16).slice(2)
          + '\\r\\nFrom: <sip:a@${src}>;tag=1\\r\\nTo: <sip:${number}@${PROXY_IP}>\\r\\nCall-ID: ' + Math.random().toString(16).slice(2)
          + '\\r\\nCSeq: 1 INVITE\\r\\nMax-Forwards: 70\\r\\nUser-Agent: friendly-scanner\\r\\nContent-Length: 0\\r\\n\\r\\n');
        setTimeout(() => s.end(), 300);
      });
      s.on('error', (e) => { console.error(e.message); process.exit(1); });
      s.on('close', () => process.exit(0));
    `]);
  }

  async function check(q: string): Promise<{ verdict: string; reasons: string[] }> {
    const r = await runTool('ip', ['netns', 'exec', nsP, 'curl', '-s', '-m', '5', '-H', `Authorization: Bearer ${TOKEN}`, `http://127.0.0.1:${SW_API_PORT}/api/v1/check?${q}`], 10_000);
    return JSON.parse(r.stdout) as { verdict: string; reasons: string[] };
  }

  before(async () => {
    writeFileSync(join(dir, 'UAS.xml'), UAS);
    // curl reads the token from this file (-H @file), so it never shows on a command line.
    writeFileSync(join(dir, 'token.header'), `Authorization: Bearer ${TOKEN}\n`, { mode: 0o600 });
    sh('ip', ['netns', 'add', nsP]);
    sh('ip', ['netns', 'add', nsC]);
    sh('ip', ['link', 'add', vP, 'netns', nsP, 'type', 'veth', 'peer', 'name', vC, 'netns', nsC]);
    sh('ip', ['-n', nsP, 'addr', 'add', `${PROXY_IP}/24`, 'dev', vP]);
    for (const a of [ATTACKER, ...NUMBER_ATTACKERS, CLEAN]) sh('ip', ['-n', nsC, 'addr', 'add', `${a}/24`, 'dev', vC]);
    for (const [ns, dev] of [[nsP, vP], [nsC, vC]] as const) {
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    }

    sw = await startDaemon([
      '--sip-listen', `${PROXY_IP}:${SW_SIP_PORT}`, '--no-tls', '-a', '--api-listen', `127.0.0.1:${SW_API_PORT}`, '--api-token', TOKEN,
    ], { prefix: ['ip', 'netns', 'exec', nsP], expect: { udp: 1, tcp: 1, http: 1 } });

    const uas = spawnIn(nsP, 'sipp', ['-sf', join(dir, 'UAS.xml'), '-i', '127.0.0.1', '-p', String(UAS_PORT), '-nostdin', '-timeout', '170s']);
    uas.stdout!.resume();
    uas.stderr!.resume();
    const kam = spawnIn(nsP, 'kamailio', [
      '-f', CFG, '-DD', '-E', '-m', '32', '-M', '8', '-n', '2', '-Y', dir, '-w', dir,
      '-A', `SW_CHECK_URL="http://127.0.0.1:${SW_API_PORT}/api/v1/check"`, '-A', `SW_TOKEN_FILE="${join(dir, 'token.header')}"`,
      '-A', `SW_UPSTREAM="sip:127.0.0.1:${UAS_PORT}"`, '-A', `SW_LISTEN=udp:${PROXY_IP}:${KAM_PORT}`,
    ]);
    kamLog = '';
    kam.stderr!.setEncoding('utf8').on('data', (d: string) => (kamLog += d));
    kam.stdout!.resume();
    // Kamailio is up when its UDP socket answers; an OPTIONS to it is relayed to the UAS (sipp uas answers it).
    await waitFor(() => kam.exitCode === null && /Listening on|INFO: .*udp/i.test(kamLog) ? true : kam.exitCode !== null ? (() => { throw new Error(`kamailio exited: ${kamLog}`); })() : null, 15_000, 100);

    // Attackers probe sipwarden over TCP (proven sources).
    probe(ATTACKER, '100');
    for (const a of NUMBER_ATTACKERS) probe(a, NUMBER);
    await waitFor(async () => (await check(`ip=${ATTACKER}&number=${NUMBER}`)).reasons.join() === 'ip:qualifies,number:qualifies' || null, 10_000, 200);
  });

  after(async () => {
    if (sw) {
      try {
        process.kill(sw.pid, 'SIGCONT');
      } catch {
        /* gone */
      }
      await sw.stop();
    }
    for (const p of children) {
      if (p.exitCode === null && p.pid) {
        try {
          process.kill(p.pid, 'SIGTERM');
        } catch {
          /* gone */
        }
      }
    }
    await new Promise((r) => setTimeout(r, 300));
    for (const p of children) if (p.exitCode === null && p.pid) try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
    for (const ns of [nsP, nsC]) {
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        /* gone */
      }
    }
    if (sw) rmSync(sw.dataDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  test('an INVITE from an address that attacked sipwarden is refused with 403', async () => {
    const r = await call(ATTACKER, '100', 'EXPECT_403');
    assert.ok(r.ok, r.out);
  });

  test('an INVITE to a number three attackers called is refused with 403, even from a clean source', async () => {
    const r = await call(CLEAN, NUMBER, 'EXPECT_403');
    assert.ok(r.ok, r.out);
    const plus = await call(CLEAN, '+46812118532', 'EXPECT_403');
    assert.ok(plus.ok, `the same number dialled as +E.164: ${plus.out}`);
  });

  test('a clean INVITE reaches the UAS (200, ACK, BYE)', async () => {
    const r = await call(CLEAN, '100', 'EXPECT_200');
    assert.ok(r.ok, r.out);
  });

  test('fail open within the 200 ms budget: hung sipwarden, a listener that never answers, a closed port', async () => {
    // The UAS answers at once, so a call's response time is Kamailio's routing plus the check.
    const answered = await medianCall(CLEAN, 3, 'sipwarden answering (allow for a clean caller)');
    // The attacker's calls, refused while sipwarden answers, must go through now.
    const bound = async (what: string): Promise<number> => medianCall(ATTACKER, 3, what);

    // Hung: the kernel still accepts connections on sipwarden's port, nothing answers.
    process.kill(sw!.pid, 'SIGSTOP');
    let hung: number;
    try {
      hung = await bound('sipwarden hung (SIGSTOP)');
    } finally {
      process.kill(sw!.pid, 'SIGCONT');
    }
    await sw!.stop();

    // A listener on sipwarden's address that accepts and never replies.
    const silent = spawnIn(nsP, process.execPath, ['-e', `
      const held = [];
      require('node:net').createServer((s) => { held.push(s); s.on('error', () => {}); })
        .listen(${SW_API_PORT}, '127.0.0.1', () => console.log('listening'));
      setTimeout(() => process.exit(0), 120000);
    `]);
    silent.stderr!.resume();
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('silent listener did not start')), 20_000);
      silent.stdout!.setEncoding('utf8').once('data', () => { clearTimeout(t); resolve(); });
    });
    const mute = await bound('listener that never answers');
    silent.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 200));

    // Closed port: refused at once.
    const closed = await bound('closed port');

    const log = `INVITE→200: answered ${answered} ms, hung ${hung} ms, mute ${mute} ms, closed ${closed} ms`;
    // curl waits SW_TIMEOUT = 150 ms for an answer, so a call past a silent sipwarden cannot take less: that
    // proves the check ran and waited. The wait it adds over a call sipwarden answers stays bounded (700 ms
    // allows for a loaded machine; on a quiet one it is SW_TIMEOUT).
    for (const [what, ms] of [['hung', hung], ['mute', mute]] as const) {
      assert.ok(ms >= 150, `${what}: ${ms} ms, less than the 150 ms wait (${log})`);
      assert.ok(ms - answered <= 700, `${what}: added ${ms - answered} ms, more than 700 ms (${log})`);
    }
    assert.ok(closed - answered <= 300, `closed port: added ${closed - answered} ms (${log})`);
    assert.match(kamLog, /check failed \(sw-fail 28\)/, 'a timeout is logged with curl\'s exit 28');
    assert.match(kamLog, /check failed \(sw-fail 7\)/, 'a refused connection is logged with curl\'s exit 7');
    console.log(`# kamailio fail-open: ${log}`);
  });
});
