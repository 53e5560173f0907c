/**
 * Descriptor exhaustion (issue 11): a daemon started under `ulimit -n 256`.
 * 1. Hundreds of TCP and TLS connections cannot take its last descriptors: SIP connections are capped below
 *    the limit (the rest refused and counted), and UDP capture and the API keep working meanwhile.
 * 2. Real exhaustion (idle API connections take every descriptor) is logged once, counted, stops nothing, and
 *    the API and SIP listeners accept again once descriptors are free.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { cleanup, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';
import { queryDb, sipRequest } from '../helpers/net.js';

const LIMIT = 256;

async function metricsText(d: Daemon, timeoutMs = 3_000): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${d.endpoint('http').port}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  assert.equal(r.status, 200);
  return r.text();
}

async function metric(d: Daemon, name: string, labels = ''): Promise<number> {
  let sum = 0;
  for (const line of (await metricsText(d)).split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (labels && !labels.split(',').every((l) => line.includes(l))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Opens `n` idle connections; resolves when each is connected or closed. */
async function flood(port: number, n: number, into: net.Socket[]): Promise<void> {
  await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<void>((resolve) => {
          const s = net.connect(port, '127.0.0.1');
          into.push(s);
          s.on('error', () => resolve());
          s.on('connect', () => resolve());
          s.on('close', () => resolve());
        }),
    ),
  );
}

describe('descriptor limit (ulimit -n 256)', { timeout: 120_000 }, () => {
  let d: Daemon;
  const socks: net.Socket[] = [];
  const udp = dgram.createSocket('udp4');
  let users = 0;
  const sendUdp = (): string => {
    const user = `fd${users++}`;
    udp.send(sipRequest({ user }), d.endpoint('udp').port, '127.0.0.1');
    return user;
  };
  const recorded = (user: string): boolean =>
    queryDb<{ n: number }>(d.dataDir, 'SELECT COUNT(*) AS n FROM honey WHERE request_uri_user = ?', user)[0]!.n === 1;

  before(async () => {
    d = await startDaemon(
      ['-r', '-a', '-j', '--api-listen', '127.0.0.1:0', '--api-rate-limit', '0', '--sip-listen', '127.0.0.1:0',
        '--tls-listen', '127.0.0.1:0', '--tcp-max-connections-per-source', '100000', '--tcp-idle-timeout', '60'],
      { expect: { udp: 1, tcp: 1, tls: 1, http: 1 }, prefix: ['bash', '-c', `ulimit -n ${LIMIT}; exec "$0" "$@"`], timeoutMs: 60_000 },
    );
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  });
  after(async () => {
    for (const s of socks) s.destroy();
    udp.close();
    assert.equal(await d.stop(), 0, d.stderr());
    cleanup(d.dataDir);
  });

  test('SIP connections are capped below the descriptor limit; UDP and the API work during the flood', async () => {
    const cap = await metric(d, 'sipwarden_sip_connections_limit');
    assert.ok(cap > 0 && cap <= LIMIT - 64, `cap ${cap}`);
    await flood(d.endpoint('tcp').port, 300, socks);
    await flood(d.endpoint('tls').port, 300, socks);
    await waitFor(async () => (await metric(d, 'sipwarden_sip_connections_rejected_total', 'reason="descriptors"')) === 600 - cap, 10_000);
    assert.equal(await metric(d, 'sipwarden_sip_connections'), cap);
    // During: UDP events are recorded and the API answers.
    const during = sendUdp();
    await waitFor(() => recorded(during), 10_000);
    assert.equal((await fetch(`http://127.0.0.1:${d.endpoint('http').port}/api/v1/events?limit=1`, { signal: AbortSignal.timeout(3_000) })).status, 200);
    assert.equal(await metric(d, 'sipwarden_descriptor_exhaustion_total'), 0);
    for (const s of socks.splice(0)) s.destroy();
    await waitFor(async () => (await metric(d, 'sipwarden_sip_connections')) === 0, 10_000);
  });

  test('real exhaustion is logged once and counted; UDP keeps recording; everything accepts again afterwards', async () => {
    const api = d.endpoint('http').port;
    // Idle API connections take every descriptor the SIP cap left free.
    await flood(api, 400, socks);
    // The API cannot answer while no descriptor is free, so the log line tells when the daemon noticed.
    await waitFor(() => /out of file descriptors/.test(d.stderr()), 10_000);
    // UDP needs no new descriptor: events are still recorded during the exhaustion.
    const during = sendUdp();
    await waitFor(() => recorded(during), 10_000);
    await new Promise((r) => setTimeout(r, 2_500)); // the probe sees it again, but logs no second line
    for (const s of socks.splice(0)) s.destroy();
    // Recovery: the API answers and SIP/TCP accepts again.
    await waitFor(async () => {
      try {
        return (await metric(d, 'sipwarden_descriptor_exhaustion_total')) >= 1;
      } catch {
        return false;
      }
    }, 20_000, 200);
    assert.equal(d.stderr().match(/out of file descriptors/g)?.length, 1, d.stderr());
    const c = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(d.endpoint('tcp').port, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });
    socks.push(c);
    const answer = new Promise<string>((r) => c.once('data', (b) => r(b.toString())));
    c.write(sipRequest({ transport: 'TCP', user: 'after-exhaustion' }));
    assert.match(await answer, /^SIP\/2\.0 200 OK/);
    const after = sendUdp();
    await waitFor(() => recorded(after), 10_000);
    assert.ok(recorded('after-exhaustion'));
  });
});
