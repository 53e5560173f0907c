// Scanner hygiene, end to end: the README's sequence `svmap -m INVITE` then `svwar -m REGISTER` from the same
// local port must list exactly the decoys 100–115. Before the reflection bound, the 401 to svmap's INVITE was
// resent for ~32 s (svmap never ACKs) and svwar, bound to the same port, read those as an extension
// (`7f00000113c4 | reqauth`). Now an unverified source that stops answering gets no resends at all, while a
// real UAC that ACKs (sipp) still completes its challenge/answer conversation.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, startDaemon, tempDir, type Daemon } from '../helpers/daemon.js';
import { freePort, runTool } from '../helpers/net.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Datagrams arriving on a local UDP port during `ms` (what a tool bound there next would read). */
async function listen(port: number, ms: number): Promise<Buffer[]> {
  const sock = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  await new Promise<void>((r) => sock.bind(port, '127.0.0.1', () => r()));
  await sleep(ms);
  await new Promise<void>((r) => sock.close(() => r()));
  return got;
}

const SCENARIO = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="uac answering the challenge">
${[1, 2]
  .map(
    (cseq) => `
  <send retrans="500"><![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "uac" <sip:1001@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: ${cseq} INVITE
      Contact: <sip:1001@[local_ip]:[local_port]>${cseq === 2 ? '\n      [authentication username=1001 password=hunter2]' : ''}
      Max-Forwards: 70
      User-Agent: sipp-hygiene
      Content-Length: 0

  ]]></send>
  <recv response="100" optional="true"/>
  ${cseq === 1 ? '<recv response="401" auth="true"/>' : '<recv response="180"/><recv response="486"/>'}
  <send><![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: ${cseq} ACK
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>`,
  )
  .join('')}
</scenario>
`;

describe('scanner hygiene (svmap/svwar, sipp)', { timeout: 300_000 }, () => {
  let d: Daemon;
  let port: number;
  let scratch: string;
  before(async () => {
    d = await startDaemon(['-r', '--sip-listen', '127.0.0.1:0', '--no-tls'], { expect: { udp: 1 } });
    port = d.endpoint('udp', 4).port;
    scratch = tempDir('sipwarden-hygiene-');
  });
  after(async () => {
    await d.stop();
    cleanup(d.dataDir);
    cleanup(scratch);
  });

  test('svmap INVITE, then svwar from the same local port: exactly the decoys 100–115', async () => {
    const lp = await freePort();
    const map = await runTool('svmap', ['-b', '127.0.0.1', '-P', String(lp), `-p${port}`, '-m', 'INVITE', '-e', '0046812118532', '127.0.0.1'], 60_000);
    assert.equal(map.code, 0, map.stdout + map.stderr);
    assert.match(map.stdout, /FPBX/, map.stdout);
    // svmap never ACKs its 401: nothing more may reach its port (Timer G resends would, for ~32 s).
    const stale = await listen(lp, 2500);
    assert.deepEqual(stale.map((b) => b.toString('latin1', 0, 20)), [], 'no resends to the scanner that stopped answering');
    const war = await runTool('svwar', ['-b', '127.0.0.1', '-P', String(lp), '-p', String(port), '-e', '95-115', '-m', 'REGISTER', '--maximumtime=20', '127.0.0.1'], 90_000);
    assert.equal(war.code, 0, war.stdout + war.stderr);
    const rows = [...war.stdout.matchAll(/^\|\s*(\S+)\s*\|\s*(\S+)\s*\|$/gm)].map((m) => [m[1]!, m[2]!]).filter(([ext]) => ext !== 'Extension');
    assert.deepEqual(
      rows,
      Array.from({ length: 16 }, (_, i) => [String(100 + i), 'reqauth']),
      war.stdout,
    );
  });

  test('a sipp UAC that ACKs the 401 and answers it completes (401, then 180 and 486)', async () => {
    const file = join(scratch, 'uac.xml');
    writeFileSync(file, SCENARIO);
    const lp = await freePort();
    const r = await runTool(
      'sipp',
      [`127.0.0.1:${port}`, '-sf', file, '-s', '0046812118532', '-i', '127.0.0.1', '-p', String(lp), '-m', '1', '-timeout', '20s', '-timeout_error', '-nostdin', '-trace_msg', '-message_file', join(scratch, 'msg.log')],
      40_000,
      { cwd: scratch },
    );
    const trace = readFileSync(join(scratch, 'msg.log'), 'utf8');
    assert.equal(r.code, 0, r.stdout + r.stderr + trace.slice(0, 3000));
    const codes = [...trace.matchAll(/message received \[\d+\] bytes :\s*\n+SIP\/2\.0 (\d{3})/g)].map((m) => Number(m[1])).filter((c) => c !== 100);
    assert.deepEqual(codes, [401, 180, 486]);
  });
});
