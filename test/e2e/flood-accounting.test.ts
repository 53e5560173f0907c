/**
 * Exact accounting under a flood: while the store cannot write (its database is locked by another connection for
 * the first seconds, so its zero-loss rate is 0 then, and a small `--store-backlog` is reached deterministically
 * however fast or loaded the machine is), a flood
 * from 50 source addresses goes on. Rows are shed; counts are not. Afterwards `ip_stats` per source and
 * `number_stats` per number equal what the test sent, less only what the kernel dropped at the socket
 * (`/proc/net/udp` drops), and `/metrics` and the JSON log account for every shed row.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { cleanup, startDaemon } from '../helpers/daemon.js';
import { queryDb, udpSocketState } from '../helpers/net.js';

const SOURCES = 50;
const NUMBERS = ['100', '2001', '0046812118532', '900', '441632960001'];
const RATE = 2500; // datagrams/s offered in all
const SEND_MS = 9000;
const LOCK_MS = 4000;
/** Events the store holds for its writer (`--store-backlog`, its minimum): the flood sends far more while the store is locked. */
const BACKLOG = 1000;
const PAD = 'X-Pad: ' + 'a'.repeat(200) + '\r\n';

function request(seq: number, src: number, user: string): Buffer {
  const id = `${src}x${seq}x${Date.now().toString(16)}`;
  return Buffer.from(
    `OPTIONS sip:${user}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.${10 + src}:5099;branch=z9hG4bK${id};rport\r\n` +
      `From: <sip:flood@127.0.0.${10 + src}>;tag=${id}\r\nTo: <sip:${user}@127.0.0.1>\r\nCall-ID: ${id}@flood\r\n` +
      `CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nUser-Agent: flood-test\r\n${PAD}Content-Length: 0\r\n\r\n`,
  );
}

const udpDrops = (port: number): number => udpSocketState(port).drops;

async function metricSum(apiPort: number, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (labels && !line.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

test('flood from 50 sources while the store cannot keep up: every received datagram is counted per source and number', { timeout: 90_000 }, async (t) => {
  const d = await startDaemon(
    ['-j', '-a', '--api-listen', '127.0.0.1:0', '--api-rate-limit', '0', '--sip-listen', '127.0.0.1:0', '--no-tls',
      '--store-backlog', String(BACKLOG)],
    { expect: { udp: 1, http: 1 } },
  );
  const sockets: dgram.Socket[] = [];
  let lock: Database.Database | undefined;
  try {
    const port = d.endpoint('udp').port;
    const apiPort = d.endpoint('http').port;
    const dropsBefore = udpDrops(port);
    for (let s = 0; s < SOURCES; s++) {
      const sock = dgram.createSocket('udp4');
      sock.on('message', () => undefined); // replies (capped per source) are not needed
      await new Promise<void>((r) => sock.bind(0, `127.0.0.${10 + s}`, () => r()));
      sockets.push(sock);
    }
    // Another connection takes the write lock: the store's batches wait (and retry) while the flood goes on.
    lock = new Database(join(d.dataDir, 'sipwarden.db'));
    lock.exec('BEGIN IMMEDIATE');
    const sent = new Array<number>(SOURCES).fill(0);
    const sentByNumber = new Map<string, number>();
    let sendErrors = 0;
    let seq = 0;
    const start = Date.now();
    let released = false;
    while (Date.now() - start < SEND_MS) {
      const elapsed = Date.now() - start;
      if (!released && elapsed >= LOCK_MS) {
        lock.exec('COMMIT');
        released = true;
      }
      const due = Math.floor((elapsed * RATE) / 1000);
      const pending: Promise<void>[] = [];
      while (seq < due) {
        const src = seq % SOURCES;
        const user = NUMBERS[Math.floor(seq / SOURCES) % NUMBERS.length]!;
        const n = seq++;
        pending.push(new Promise<void>((r) => sockets[src]!.send(request(n, src, user), port, '127.0.0.1', (err) => {
          if (err) sendErrors++;
          else {
            sent[src]!++;
            sentByNumber.set(user, (sentByNumber.get(user) ?? 0) + 1);
          }
          r();
        })));
      }
      await Promise.all(pending);
      await new Promise((r) => setTimeout(r, 5));
    }
    if (!released) lock.exec('COMMIT');
    lock.close();
    lock = undefined;
    const total = sent.reduce((a, b) => a + b, 0);
    assert.ok(total >= RATE * (SEND_MS / 1000) * 0.5, `sender too slow: ${total} sent`);

    // Let the daemon drain its socket, then read what the kernel dropped and what /metrics says.
    await new Promise((r) => setTimeout(r, 1500));
    const kernelDrops = udpDrops(port) - dropsBefore;
    const eventsMetric = await metricSum(apiPort, 'sipwarden_sip_events_total');
    const shedMetric = await metricSum(apiPort, 'sipwarden_store_rows_shed_total');
    const uncounted = await metricSum(apiPort, 'sipwarden_store_uncounted_total');
    assert.equal(await d.stop(), 0, d.stderr());

    const rows = queryDb<{ n: number }>(d.dataDir, 'SELECT COUNT(*) AS n FROM honey')[0]!.n;
    const ipRows = queryDb<{ ip: string; event_count: number }>(d.dataDir, 'SELECT ip, event_count FROM ip_stats');
    const numberRows = queryDb<{ called_number: string; event_count: number }>(d.dataDir, 'SELECT called_number, event_count FROM number_stats');
    const counted = ipRows.reduce((a, r) => a + r.event_count, 0);
    const detail = `sent ${total} (send errors ${sendErrors}), kernel drops ${kernelDrops}, counted ${counted}, rows ${rows}, shed ${shedMetric}`;

    t.diagnostic(detail);
    // The flood really exceeded what the store could write: rows were shed.
    assert.ok(shedMetric > 1000, `nothing shed: ${detail}`);
    assert.equal(uncounted, 0, detail);
    // Every datagram that reached the socket is counted: only kernel drops are missing, per source none extra.
    assert.equal(total - counted, kernelDrops, detail);
    assert.equal(eventsMetric, counted, detail);
    assert.equal(rows + shedMetric, counted, detail);
    const byIp = new Map(ipRows.map((r) => [r.ip, r.event_count]));
    assert.equal(byIp.size, SOURCES, detail);
    let missing = 0;
    for (let s = 0; s < SOURCES; s++) {
      const got = byIp.get(`127.0.0.${10 + s}`) ?? 0;
      assert.ok(got <= sent[s]!, `source ${s}: ${got} > ${sent[s]}`);
      missing += sent[s]! - got;
      if (kernelDrops === 0) assert.equal(got, sent[s], `source ${s}`);
    }
    assert.equal(missing, kernelDrops);
    const byNumber = new Map(numberRows.map((r) => [r.called_number, r.event_count]));
    let numberMissing = 0;
    for (const [n, c] of sentByNumber) {
      const got = byNumber.get(n) ?? 0;
      assert.ok(got <= c, `number ${n}: ${got} > ${c}`);
      numberMissing += c - got;
    }
    assert.equal(numberMissing, kernelDrops);

    // The JSON log's summary lines name the sources of every event without a row.
    const lines = readFileSync(join(d.dataDir, 'sipwarden_json.log'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const summaries = lines.filter((l) => l.type === 'sipwarden_events_not_stored');
    assert.ok(summaries.length >= 1, detail);
    for (const s of summaries) assert.equal(s.event_uuid, undefined);
    assert.equal(summaries.reduce((a, s) => a + (s.events_not_stored as number), 0), shedMetric, detail);
    const perSource = new Map<string, number>();
    for (const s of summaries) for (const [ip, n] of Object.entries(s.sources as Record<string, number>)) perSource.set(ip, (perSource.get(ip) ?? 0) + n);
    const rowsBySource = new Map(queryDb<{ source_ip: string; n: number }>(d.dataDir, 'SELECT source_ip, COUNT(*) AS n FROM honey GROUP BY source_ip').map((r) => [r.source_ip, r.n]));
    for (const [ip, c] of byIp) assert.equal((rowsBySource.get(ip) ?? 0) + (perSource.get(ip) ?? 0), c, ip);
  } finally {
    for (const s of sockets) s.close();
    lock?.close();
    if (d.proc.exitCode === null) await d.stop();
    cleanup(d.dataDir);
  }
});
