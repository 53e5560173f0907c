/**
 * Issue 3 bad input: nothing an attacker sends stops the daemon, each case lands in the right counter, and
 * stream limits (size cap, per-source cap, idle timeout, TLS garbage) close only the offending connection.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { cleanup, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';
import { queryDb, sipRequest, udpExchange } from '../helpers/net.js';

async function metric(d: Daemon, name: string, labels = ''): Promise<number> {
  const api = d.endpoint('http');
  const text = await (await fetch(`http://127.0.0.1:${api.port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (labels && !labels.split(',').every((l) => line.includes(l))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

function tcpConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

function closed(s: net.Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    s.on('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

describe('bad input', { timeout: 120_000 }, () => {
  let d: Daemon;
  let port: number;
  const count = (where: string): number =>
    (queryDb<{ n: number }>(d.dataDir, `SELECT COUNT(*) AS n FROM honey WHERE ${where}`)[0]!).n;

  before(async () => {
    d = await startDaemon(
      ['-r', '-a', '--api-listen', '127.0.0.1:0', '--api-rate-limit', '0', '--sip-listen', '127.0.0.1:0',
        '--tls-listen', '127.0.0.1:0', '--tcp-max-connections-per-source', '5', '--tcp-idle-timeout', '2'],
      { expect: { udp: 1, tcp: 1, tls: 1, http: 1 } },
    );
    port = d.endpoint('udp').port;
  });
  after(async () => {
    assert.equal(await d.stop(), 0, d.stderr());
    cleanup(d.dataDir);
  });

  test('a SIP response datagram is counted, not recorded, and the next OPTIONS is answered', async () => {
    const replies = await udpExchange('127.0.0.1', port, 'SIP/2.0 404 Not Found\r\nVia: SIP/2.0/UDP 192.0.2.1\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n', 200);
    assert.equal(replies.length, 0);
    await waitFor(async () => (await metric(d, 'sipwarden_sip_malformed_total', 'reason="response"')) >= 1);
    const ok = await udpExchange('127.0.0.1', port, sipRequest({ user: 'after-response' }), 300);
    assert.match(ok[0]!.toString(), /^SIP\/2\.0 200 OK/);
    await waitFor(() => count("request_uri_user='after-response'") === 1);
    assert.equal(count("sip_message LIKE 'SIP/2.0 404%'"), 0);
  });

  test('empty datagrams and CRLF keep-alives are ignored: no row, no reply', async () => {
    const before = count('1=1');
    for (const payload of ['', '\r\n', '\r\n\r\n']) {
      const r = await udpExchange('127.0.0.1', port, payload, 100);
      assert.equal(r.length, 0);
    }
    await waitFor(async () => (await metric(d, 'sipwarden_sip_keepalives_total')) >= 3);
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(count('1=1'), before);
  });

  test('binary garbage and HTTP on the SIP port are malformed, not events', async () => {
    const before = count('1=1');
    await udpExchange('127.0.0.1', port, randomBytes(300), 50);
    await udpExchange('127.0.0.1', port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 50);
    await waitFor(async () => (await metric(d, 'sipwarden_sip_malformed_total', 'reason="not_sip"')) >= 2);
    assert.equal(count('1=1'), before);
  });

  test('a 60 KB datagram is stored byte-exact', async () => {
    const body = 'v=0\r\n' + 'a=pad:' + 'z'.repeat(60_000) + '\r\n';
    const msg = sipRequest({ method: 'INVITE', user: 'big60k', body });
    assert.ok(Buffer.byteLength(msg) > 60_000 && Buffer.byteLength(msg) < 65_507);
    await udpExchange('127.0.0.1', port, msg, 200);
    const rows = await waitFor(() => {
      const r = queryDb<{ sip_message: string }>(d.dataDir, "SELECT sip_message FROM honey WHERE request_uri_user='big60k'");
      return r.length ? r : null;
    });
    assert.equal(rows[0]!.sip_message, msg);
  });

  test('a 70 KB TCP message closes that connection only', async () => {
    const good = await tcpConnect(port);
    const bad = await tcpConnect(port);
    const huge = sipRequest({ method: 'INVITE', user: 'huge70k', transport: 'TCP', body: 'x'.repeat(70_000) });
    bad.on('error', () => {});
    bad.write(huge);
    assert.equal(await closed(bad, 3000), true);
    good.write(sipRequest({ transport: 'TCP', user: 'still-fine' }));
    const answer = await new Promise<string>((resolve) => good.once('data', (x) => resolve(x.toString())));
    assert.match(answer, /^SIP\/2\.0 200 OK/);
    good.destroy();
    assert.equal(count("request_uri_user='huge70k'"), 0);
    await waitFor(() => count("request_uri_user='still-fine'") === 1);
  });

  test('10,000 random datagrams leave the process alive', async () => {
    const s = dgram.createSocket('udp4');
    for (let i = 0; i < 10_000; i++) {
      const len = 1 + Math.floor(Math.random() * 600);
      const buf = i % 3 === 0 ? Buffer.from('OPTIONS sip:x SIP/2.0\r\n' + randomBytes(len).toString('latin1')) : randomBytes(len);
      s.send(buf, port, '127.0.0.1');
      if (i % 500 === 0) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 500));
    s.close();
    const ok = await udpExchange('127.0.0.1', port, sipRequest({ user: 'after-fuzz' }), 500);
    assert.match(ok[0]!.toString(), /^SIP\/2\.0 200 OK/);
    assert.equal(d.proc.exitCode, null);
  });

  test('a TCP connection flood over the per-source cap is refused beyond the cap', async () => {
    const socks: net.Socket[] = [];
    for (let i = 0; i < 12; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      socks.push(s);
    }
    await new Promise((r) => setTimeout(r, 500));
    const open = socks.filter((s) => !s.destroyed).length;
    assert.ok(open <= 5, `open connections ${open}`);
    await waitFor(async () => (await metric(d, 'sipwarden_sip_connections_rejected_total', 'reason="per_source"')) >= 7);
    for (const s of socks) s.destroy();
  });

  test('a TLS handshake with garbage is counted and closed', async () => {
    // A TLS connection takes a per-source slot from accept: wait until the flood's connections are gone.
    await waitFor(async () => (await metric(d, 'sipwarden_sip_connections')) === 0);
    const s = await tcpConnect(d.endpoint('tls').port);
    s.on('error', () => {});
    s.write(randomBytes(512));
    assert.equal(await closed(s, 3000), true);
    await waitFor(async () => (await metric(d, 'sipwarden_tls_handshake_failures_total')) >= 1);
  });

  test('a slowloris TCP peer is closed by the idle timeout', async () => {
    await new Promise((r) => setTimeout(r, 300)); // let the flood's sockets close
    const s = await tcpConnect(port);
    s.on('error', () => {});
    s.write('OPTIONS sip:slow@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 1.2.3.4');
    assert.equal(await closed(s, 6000), true);
  });
});
