/**
 * Issue 3 end to end: the real daemon on free loopback ports, driven by the real scanner tools (sipsak, sipp,
 * svmap, nmap) over UDP/TCP, IPv4/IPv6, and TLS via node's tls.connect. Asserts on the tools' output and on the
 * rows in the daemon's sqlite file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { cleanup, startDaemon, tempDir, waitFor, type Daemon } from '../helpers/daemon.js';
import { freePort, nmapScriptForAnyPort, queryDb, runTool, sipRequest } from '../helpers/net.js';

interface Row {
  method: string;
  source_ip: string;
  transport_type: string;
  called_number: string;
  called_number_e164: string | null;
  user_agent: string;
  request_uri_user: string | null;
  to_user: string | null;
  source_verified: number;
  sip_message: string;
  destination_ip: string;
  event_timestamp: string;
}

describe('capture with real tools', { timeout: 180_000 }, () => {
  let d: Daemon;
  let port: number;
  let port6: number;
  let tlsPort: number;
  let scripts: string;
  let sipMethods: string;

  before(async () => {
    d = await startDaemon(
      ['-r', '-j', '--sip-listen', '127.0.0.1:0', '--sip-listen', '[::1]:0', '--tls-listen', '127.0.0.1:0'],
      { expect: { udp: 2, tcp: 2, tls: 1 } },
    );
    port = d.endpoint('udp', 4).port;
    port6 = d.endpoint('udp', 6).port;
    tlsPort = d.endpoint('tls').port;
    scripts = tempDir('sipwarden-nse-');
    sipMethods = nmapScriptForAnyPort('sip-methods', scripts);
  });
  after(async () => {
    const code = await d.stop();
    assert.equal(code, 0, `daemon exit code; stderr:\n${d.stderr()}`);
    cleanup(d.dataDir);
    cleanup(scripts);
  });

  const rowsWhere = (where: string, ...p: unknown[]): Row[] => queryDb<Row>(d.dataDir, `SELECT * FROM honey WHERE ${where}`, ...p);

  test('sipsak OPTIONS over UDP gets a matching 200 and is one row', async () => {
    const r = await runTool('sipsak', ['-vv', '-s', `sip:4711@127.0.0.1:${port}`], 20_000);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SIP\/2\.0 200 OK/);
    // The reply copies Call-ID, CSeq and From of the request.
    const sent = /OPTIONS sip:[\s\S]*?\n\n/.exec(r.stdout)?.[0] ?? r.stdout;
    const callId = /Call-ID: (\S+)/i.exec(sent)?.[1];
    assert.ok(callId);
    const reply = r.stdout.slice(r.stdout.indexOf('SIP/2.0 200 OK'));
    assert.ok(reply.includes(`Call-ID: ${callId}`), reply);
    assert.match(reply, /CSeq: \d+ OPTIONS/);
    const rows = await waitFor(() => {
      const x = rowsWhere("sip_message LIKE ? AND transport_type='UDP'", `%${callId}%`);
      return x.length ? x : null;
    }, 3000);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.method, 'OPTIONS');
    assert.equal(rows[0]!.source_ip, '127.0.0.1');
    assert.equal(rows[0]!.destination_ip, '127.0.0.1');
    assert.match(rows[0]!.user_agent, /^sipsak/);
    assert.equal(rows[0]!.source_verified, 0);
    assert.match(rows[0]!.event_timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9}$/);
  });

  test('sipsak OPTIONS over TCP gets a 200 and is one verified row', async () => {
    const r = await runTool('sipsak', ['-vv', '-E', 'tcp', '-s', `sip:4712@127.0.0.1:${port}`], 20_000);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SIP\/2\.0 200 OK/);
    const rows = await waitFor(() => {
      const x = rowsWhere("transport_type='TCP' AND request_uri_user='4712'");
      return x.length ? x : null;
    }, 3000);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.source_verified, 1);
  });

  for (const transport of ['u1', 't1'] as const) {
    test(`sipp uac INVITE with SDP over ${transport === 'u1' ? 'UDP' : 'TCP'} records the called number`, async () => {
      const local = await freePort();
      const number = transport === 'u1' ? '0046812118532' : '9011441383417547';
      await runTool(
        'sipp',
        ['-sn', 'uac', `127.0.0.1:${port}`, '-s', number, '-i', '127.0.0.1', '-p', String(local), '-t', transport,
          '-m', '1', '-timeout', '8s', '-nostdin', '-timeout_error'],
        20_000,
      );
      const rows = await waitFor(() => {
        const x = rowsWhere("method='INVITE' AND called_number=?", number);
        return x.length ? x : null;
      }, 3000);
      assert.equal(rows[0]!.transport_type, transport === 'u1' ? 'UDP' : 'TCP');
      assert.equal(rows[0]!.called_number_e164, transport === 'u1' ? '+46812118532' : '+441383417547');
      assert.match(rows[0]!.sip_message, /\r\n\r\nv=0/); // SDP body kept
    });
  }

  test('a 3 KB INVITE over UDP is stored whole with its number', async () => {
    const sdp = 'v=0\r\n' + 'a=x-pad:' + 'y'.repeat(3000) + '\r\n';
    const msg = sipRequest({ method: 'INVITE', user: '+442079460000', body: sdp, extraHeaders: ['Content-Type: application/sdp'] });
    const { udpExchange } = await import('../helpers/net.js');
    await udpExchange('127.0.0.1', port, msg, 200);
    const rows = await waitFor(() => {
      const x = rowsWhere("called_number='+442079460000'");
      return x.length ? x : null;
    }, 3000);
    assert.equal(rows[0]!.sip_message, msg);
    assert.equal(rows[0]!.called_number_e164, '+442079460000');
  });

  test('svmap finds the node; OPTIONS and an international INVITE are recorded', async () => {
    const lp = await freePort();
    const r = await runTool('svmap', ['-P', String(lp), `-p${port}`, '127.0.0.1'], 40_000);
    assert.match(r.stdout + r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
    const lp2 = await freePort();
    await runTool('svmap', ['-P', String(lp2), `-p${port}`, '-m', 'INVITE', '-e', '0046812118532', '127.0.0.1'], 40_000);
    const rows = await waitFor(() => {
      const x = rowsWhere("user_agent='friendly-scanner' AND method='INVITE' AND called_number='0046812118532'");
      return x.length ? x : null;
    }, 3000);
    assert.equal(rows[0]!.called_number_e164, '+46812118532');
    assert.ok(rowsWhere("user_agent='friendly-scanner' AND method='OPTIONS'").length >= 1);
  });

  test('nmap -sU --script sip-methods completes and is recorded', async () => {
    const r = await runTool('nmap', ['-n', '-Pn', '-sU', '-p', String(port), '--script', sipMethods, '127.0.0.1'], 60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /sip-methods:[\s\S]*OPTIONS/);
    const rows = await waitFor(() => {
      const x = rowsWhere("user_agent='Nmap NSE' AND method='OPTIONS'");
      return x.length ? x : null;
    }, 3000);
    assert.equal(rows[0]!.transport_type, 'UDP');
  });

  test('IPv6: svmap -6 and nmap -6 to ::1 are recorded with an IPv6 source', async () => {
    const lp = await freePort('::1');
    await runTool('svmap', ['-6', '-P', String(lp), `-p${port6}`, '::1'], 40_000);
    await runTool('nmap', ['-6', '-n', '-Pn', '-sU', '-p', String(port6), '--script', sipMethods, '::1'], 60_000);
    const rows = await waitFor(() => {
      const x = rowsWhere("source_ip='::1' AND transport_type='UDP'");
      return x.length >= 2 ? x : null;
    }, 3000);
    assert.ok(rows.some((r) => r.user_agent === 'friendly-scanner'));
    assert.ok(rows.some((r) => r.user_agent === 'Nmap NSE'));
    assert.ok(rows.every((r) => r.destination_ip === '::1'));
  });

  test('TLS: two requests on one connection are both recorded and answered', async () => {
    const a = sipRequest({ transport: 'TLS', user: 'tls-one' });
    const b = sipRequest({ transport: 'TLS', user: 'tls-two' });
    const answers = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: tlsPort, rejectUnauthorized: false }, () => s.write(a + b));
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (x: string) => {
        got += x;
        if ((got.match(/SIP\/2\.0 200 OK/g) ?? []).length >= 2) {
          s.end();
          resolve(got);
        }
      });
      s.on('error', reject);
      setTimeout(() => reject(new Error('no TLS answers: ' + got)), 5000);
    });
    assert.equal((answers.match(/SIP\/2\.0 200 OK/g) ?? []).length, 2);
    const rows = await waitFor(() => {
      const x = rowsWhere("transport_type='TLS' AND request_uri_user IN ('tls-one','tls-two')");
      return x.length === 2 ? x : null;
    }, 3000);
    assert.ok(rows.every((r) => r.source_verified === 1));
  });
});
