/**
 * Sinks through the real daemon (dist/main.js): webhook outbox across SIGKILL + restart during an outage,
 * a hung webhook receiver not slowing replies, SIGHUP reopening the JSON log, and syslog + JSON log together.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import dgram from 'node:dgram';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, startDaemon, tempDir, waitFor, type Daemon } from '../helpers/daemon.js';
import unixDgram from 'unix-dgram';
import { startReceiver, type Receiver } from './helpers.js';

const daemons: Daemon[] = [];
const receivers: Receiver[] = [];
const dirs: string[] = [];
after(async () => {
  for (const d of daemons) await d.stop('SIGKILL').catch(() => undefined);
  for (const r of receivers) await r.close().catch(() => undefined);
  for (const d of dirs) cleanup(d);
});

let seq = 0;
function options(host: string, port: number, ua = 'sinks-e2e'): Buffer {
  const n = `${process.pid}-${++seq}-${Date.now()}`;
  return Buffer.from(
    `OPTIONS sip:100@${host}:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK${n}\r\n` +
      `From: <sip:probe@127.0.0.1>;tag=${n}\r\nTo: <sip:100@${host}>\r\nCall-ID: ${n}@sinks\r\nCSeq: 1 OPTIONS\r\n` +
      `User-Agent: ${ua}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
  );
}

/** Sends `count` OPTIONS from one socket; resolves the number of replies received within `waitMs`. */
async function probe(port: number, count: number, waitMs = 0, perSecond = 0): Promise<number> {
  const s = dgram.createSocket('udp4');
  let replies = 0;
  s.on('message', () => replies++);
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  for (let i = 0; i < count; i++) {
    await new Promise<void>((r, j) => s.send(options('127.0.0.1', port), port, '127.0.0.1', (e) => (e ? j(e) : r())));
    if (perSecond) await new Promise((r) => setTimeout(r, 1000 / perSecond));
    else if (i % 20 === 19) await new Promise((r) => setImmediate(r));
  }
  if (waitMs) {
    const t0 = Date.now();
    while (replies < count && Date.now() - t0 < waitMs) await new Promise((r) => setTimeout(r, 20));
  }
  s.close();
  return replies;
}

function honeyUuids(dataDir: string): string[] {
  const db = new Database(join(dataDir, 'sipwarden.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT event_uuid FROM honey').all() as Array<{ event_uuid: string }>).map((r) => r.event_uuid);
  } finally {
    db.close();
  }
}

const ARGS = ['--sip-listen', '127.0.0.1:0', '--no-tls'];

describe('sinks through the daemon', () => {
  test('webhook: SIGKILL and restart in the middle of an outage — the receiver ends with every event_uuid', async () => {
    const rx = await startReceiver();
    receivers.push(rx);
    const got = new Set<string>();
    rx.handler = (req, _body, res) => {
      got.add(String(req.headers['x-sipwarden-event-id']));
      res.statusCode = 200;
      res.end();
    };
    const dataDir = tempDir('sw-sinks-kill-');
    dirs.push(dataDir);
    const args = [...ARGS, '-w', rx.url];
    const d1 = await startDaemon(args, { dataDir });
    daemons.push(d1);
    await probe(d1.endpoint('udp').port, 20);
    await waitFor(() => got.size >= 20, 15_000);

    await rx.down(); // outage starts
    await probe(d1.endpoint('udp').port, 30);
    await waitFor(() => honeyUuids(dataDir).length >= 50, 15_000);
    await new Promise((r) => setTimeout(r, 1500)); // let the worker fail at least once
    assert.equal(await d1.stop('SIGKILL'), 'SIGKILL');

    const d2 = await startDaemon(args, { dataDir });
    daemons.push(d2);
    await probe(d2.endpoint('udp').port, 25);
    await new Promise((r) => setTimeout(r, 2000)); // still down: the restarted worker retries with backoff
    await rx.up();
    const stored = (await waitFor(() => {
      const u = honeyUuids(dataDir);
      return u.length >= 75 ? u : null;
    }, 15_000))!;
    await waitFor(() => stored.every((u) => got.has(u)), 30_000, 100).catch(() => undefined);
    const missing = stored.filter((u) => !got.has(u));
    assert.deepEqual(missing, [], `${missing.length} of ${stored.length} events never delivered`);
    assert.equal(stored.length, 75);
    await d2.stop();
  });

  test('a hung webhook receiver does not slow replies: 100 OPTIONS all answered', async () => {
    const rx = await startReceiver();
    receivers.push(rx);
    rx.handler = () => undefined; // never answers
    const d = await startDaemon(['-r', ...ARGS, '-w', rx.url]);
    daemons.push(d);
    dirs.push(d.dataDir);
    const t0 = Date.now();
    // 40/s stays under the per-source reply cap (50/s).
    const replies = await probe(d.endpoint('udp').port, 100, 5000, 40);
    assert.equal(replies, 100);
    // A capture path waiting on the webhook would need 100 × 10 s; paced sending alone takes 2.5 s.
    assert.ok(Date.now() - t0 < 10_000, `100 replies took ${Date.now() - t0} ms`);
    assert.equal(await d.stop('SIGTERM', 8000), 0, 'clean exit within the stop deadline despite the hung receiver');
  });

  test('SIGHUP reopens the JSON log (logrotate rename)', async () => {
    const d = await startDaemon([...ARGS, '-j']);
    daemons.push(d);
    dirs.push(d.dataDir);
    const log = join(d.dataDir, 'sipwarden_json.log');
    await probe(d.endpoint('udp').port, 1);
    await waitFor(() => existsSync(log) && readFileSync(log, 'utf8').length > 0, 3000);
    renameSync(log, log + '.1');
    d.proc.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 200));
    await probe(d.endpoint('udp').port, 1);
    await waitFor(() => existsSync(log) && readFileSync(log, 'utf8').length > 0, 3000);
    assert.equal(readFileSync(log, 'utf8').trim().split('\n').length, 1);
    assert.equal(readFileSync(log + '.1', 'utf8').trim().split('\n').length, 1);
    assert.equal(await d.stop(), 0);
  });

  test('syslog and JSON log together: one line each per event, counted on /metrics', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const sock = join(dir, 'syslog.sock');
    const got: string[] = [];
    const rx = unixDgram.createSocket('unix_dgram', (msg: Buffer) => got.push(msg.toString('utf8')));
    rx.bind(sock);
    try {
      const d = await startDaemon([...ARGS, '-j', '-s', '--syslog-target', `unix:${sock}`, '-a', '--api-listen', '127.0.0.1:0'], { expect: { udp: 1, http: 1 } });
      daemons.push(d);
      const N = 30;
      await probe(d.endpoint('udp').port, N);
      await waitFor(() => got.length >= N, 15_000);
      assert.equal(got.length, N);
      for (const line of got) assert.match(line, new RegExp(`sipwarden\\[${d.pid}\\]: Source IP: 127\\.0\\.0\\.1, Method: OPTIONS, Agent: sinks-e2e\\n$`));
      const log = join(d.dataDir, 'sipwarden_json.log');
      await waitFor(() => existsSync(log) && readFileSync(log, 'utf8').trim().split('\n').length >= N, 15_000);
      const text = await waitForMetric(d.endpoint('http').port, 'sipwarden_sink_delivered_total{sink="syslog"}', N);
      assert.match(text, /sipwarden_sink_delivered_total\{sink="json_log"\} 30\n/);
      assert.equal(await d.stop(), 0);
      assert.equal(readFileSync(log, 'utf8').trim().split('\n').length, N);
    } finally {
      rx.close();
    }
  });
});

/** Polls /metrics until `series` reaches `value`; returns the last text. */
async function waitForMetric(apiPort: number, series: string, value: number): Promise<string> {
  let text = '';
  const t0 = Date.now();
  while (Date.now() - t0 < 15_000) {
    text = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(series + ' '));
    if (line && Number(line.slice(series.length + 1)) >= value) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${series} did not reach ${value}:\n${text.split('\n').filter((l) => l.includes('sink_')).join('\n')}`);
}
