/**
 * The shipped Kamailio config (deploy/kamailio/kamailio.cfg) with real parts in network namespaces this test
 * creates: a "proxy" namespace with Kamailio 5.6, sipwarden (capture + API) and a sipp UAS behind Kamailio, and a
 * "callers" namespace joined by a veth pair whose addresses are attackers and a clean caller.
 *
 * Attackers first probe sipwarden over TCP (proven sources). Then, through Kamailio: an INVITE from the probing
 * address gets 403; an INVITE to the number three attackers called gets 403; a clean INVITE reaches the UAS
 * (200); with sipwarden hung (SIGSTOP) or stopped, calls still go through (fail open).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
  <recv response="403"/>
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
  <recv response="200" rrs="true"/>
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

  const spawnIn = (ns: string, cmd: string, args: string[]): ChildProcess => {
    const p = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(p);
    return p;
  };

  /** One call from `src` to `number` through Kamailio; resolves whether the scenario completed. */
  async function call(src: string, number: string, scenario: 'EXPECT_403' | 'EXPECT_200'): Promise<{ ok: boolean; ms: number; out: string }> {
    const t0 = Date.now();
    const r = await runTool('ip', [
      'netns', 'exec', nsC, 'sipp', `${PROXY_IP}:${KAM_PORT}`, '-sf', join(dir, `${scenario}.xml`), '-s', number,
      '-i', src, '-p', '0', '-m', '1', '-nostdin', '-timeout', '15s', '-timeout_error', '-max_recv_loops', '1000',
    ], 25_000, { cwd: dir });
    return { ok: r.code === 0, ms: Date.now() - t0, out: r.stdout.slice(-1500) + r.stderr.slice(-1500) };
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
    writeFileSync(join(dir, 'EXPECT_403.xml'), EXPECT_403);
    writeFileSync(join(dir, 'EXPECT_200.xml'), EXPECT_200);
    writeFileSync(join(dir, 'UAS.xml'), UAS);
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
      '-A', `SW_CHECK_URL="http://127.0.0.1:${SW_API_PORT}/api/v1/check"`, '-A', `SW_TOKEN="${TOKEN}"`,
      '-A', `SW_UPSTREAM="sip:127.0.0.1:${UAS_PORT}"`, '-A', `SW_LISTEN=udp:${PROXY_IP}:${KAM_PORT}`,
    ]);
    let kamLog = '';
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

  test('fail open: with sipwarden hung, then stopped, the attacker\'s call still goes through', async () => {
    process.kill(sw!.pid, 'SIGSTOP');
    try {
      const hung = await call(ATTACKER, '100', 'EXPECT_200');
      assert.ok(hung.ok, `hung sipwarden: ${hung.out}`);
      // Bounded by the config's timeout (Kamailio 5.6 counts whole seconds) plus the call itself.
      assert.ok(hung.ms < 8_000, `took ${hung.ms} ms`);
    } finally {
      process.kill(sw!.pid, 'SIGCONT');
    }
    await sw!.stop();
    const stopped = await call(ATTACKER, '100', 'EXPECT_200');
    assert.ok(stopped.ok, `stopped sipwarden: ${stopped.out}`);
  });
});
