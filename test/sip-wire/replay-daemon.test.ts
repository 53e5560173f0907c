// End to end: every recorded fixture and hand-made edge case replayed against the real daemon (UDP datagrams, and the
// TCP streams segment by segment) lands in sqlite with exactly the expected fields — or not at all.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { isUtf8 } from 'node:buffer';
import { cleanup, startDaemon, waitFor, type Daemon } from '../helpers/daemon.js';
import { queryDb } from '../helpers/net.js';
import { toE164 } from '../../src/net/numbers.js';
import { EDGE_CASES, EDGE_STREAM } from '../helpers/sip-edge-cases.js';
import { loadManifest, readFixture } from '../helpers/sip-fixtures.js';

interface Expect {
  kind: string;
  method: string | null;
  requestUriUser: string | null;
  toUser: string | null;
  userAgent: string | null;
  expected: string;
}
interface Entry extends Expect {
  file: string;
  chunks?: { offset: number; length: number }[];
  messages?: (Expect & { offset: number; length: number })[];
}
interface Row {
  method: string;
  request_uri_user: string | null;
  to_user: string | null;
  user_agent: string;
  called_number: string;
  called_number_e164: string | null;
  sip_message: string;
  sip_message_raw: Buffer | null;
  transport_type: string;
  source_port: number;
}

interface Case extends Entry {
  bytes: Buffer;
}
const entries = loadManifest<Entry>().entries;
/** Recorded datagrams and streams with their bytes, then the hand-made edge cases. */
const datagrams: Case[] = [
  ...entries.filter((e) => e.file.endsWith('.sip')).map((e) => ({ ...e, bytes: readFixture(e.file) })),
  ...EDGE_CASES,
];
const streams: Case[] = [
  ...entries.filter((e) => e.kind === 'tcp-stream').map((e) => ({ ...e, bytes: readFixture(e.file) })),
  { ...EDGE_STREAM, method: null, requestUriUser: null, toUser: null, userAgent: null, expected: 'capture', bytes: EDGE_STREAM.data },
];

function storedUa(raw: string | null): string {
  if (raw === null || raw.trim() === '') return 'NOT_FOUND';
  return raw.replace(/[\x00-\x1f\x7f]/g, (c) => '\\x' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}

function checkRow(label: string, row: Row | undefined, bytes: Buffer, e: Expect, transport: string): void {
  assert.ok(row, `${label}: recorded`);
  assert.equal(row.method, e.method, `${label}: method`);
  assert.equal(row.request_uri_user, e.requestUriUser, `${label}: request_uri_user`);
  assert.equal(row.to_user, e.toUser, `${label}: to_user`);
  assert.equal(row.user_agent, storedUa(e.userAgent), `${label}: user_agent`);
  assert.equal(row.transport_type, transport, `${label}: transport`);
  assert.equal(row.called_number_e164, toE164(row.called_number), `${label}: e164`);
  if (isUtf8(bytes)) assert.equal(row.sip_message_raw, null, `${label}: no raw blob for UTF-8`);
  else assert.deepEqual(Buffer.from(row.sip_message_raw!), bytes, `${label}: raw bytes kept`);
}

describe('fixture replay against the daemon', { timeout: 120_000 }, () => {
  let d: Daemon;
  before(async () => {
    d = await startDaemon(['--sip-listen', '127.0.0.1:0'], { expect: { udp: 1, tcp: 1 } });
  });
  after(async () => {
    if (d) {
      assert.equal(await d.stop(), 0, d.stderr());
      cleanup(d.dataDir);
    }
  });

  test('UDP: each datagram fixture is one row with the manifest fields, noise is not recorded', async () => {
    const files = datagrams;
    const sent = new Map<string, { e: Entry; bytes: Buffer }>();
    const sockets: dgram.Socket[] = [];
    for (const e of files) {
      const bytes = e.bytes;
      // One socket per fixture, all kept open until every fixture is sent: distinct source ports (a closed socket's
      // port can be handed out again), so no two fixtures share a port or look like retransmissions.
      const sock = dgram.createSocket('udp4');
      sockets.push(sock);
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      const port = sock.address().port;
      await new Promise<void>((r, j) => sock.send(bytes, d.endpoint('udp').port, '127.0.0.1', (err) => (err ? j(err) : r())));
      sent.set(String(port), { e, bytes });
    }
    for (const sock of sockets) sock.close();
    assert.equal(sent.size, files.length, 'every fixture from its own port');
    const want = files.filter((e) => e.expected !== 'ignore-no-crash').length;
    assert.ok(want >= 80 && files.length >= 90, `${want} of ${files.length}`);
    const rows = await waitFor(() => {
      const r = queryDb<Row>(d.dataDir, "SELECT * FROM honey WHERE transport_type = 'UDP'");
      return r.length >= want ? r : null;
    }, 15_000);
    await new Promise((r) => setTimeout(r, 300)); // anything extra would have arrived by now
    const all = queryDb<Row>(d.dataDir, "SELECT * FROM honey WHERE transport_type = 'UDP'");
    assert.equal(all.length, want, 'one row per request fixture, none for noise');
    const byPort = new Map(rows.map((r) => [String(r.source_port), r]));
    for (const [port, { e, bytes }] of sent) {
      if (e.expected === 'ignore-no-crash') assert.equal(byPort.get(port), undefined, `${e.file}: not recorded`);
      else checkRow(e.file, byPort.get(port), bytes, e, 'UDP');
    }
  });

  test('TCP: the stream fixtures, segment by segment, give exactly their messages', async () => {
    assert.ok(streams.length >= 2);
    for (const e of streams) {
      const data = e.bytes;
      const sock = net.connect(d.endpoint('tcp').port, '127.0.0.1');
      sock.setNoDelay(true);
      await new Promise<void>((r, j) => { sock.once('connect', r); sock.once('error', j); });
      const port = sock.localPort!;
      for (const c of e.chunks!) {
        sock.write(data.subarray(c.offset, c.offset + c.length));
        await new Promise((r) => setTimeout(r, 30));
      }
      const msgs = e.messages!.filter((m) => m.kind === 'request');
      const rows = await waitFor(() => {
        const r = queryDb<Row>(d.dataDir, "SELECT * FROM honey WHERE transport_type = 'TCP' AND source_port = ? ORDER BY honey_id", port);
        return r.length >= msgs.length ? r : null;
      }, 10_000);
      sock.end();
      assert.equal(rows.length, msgs.length, e.file);
      msgs.forEach((m, k) => {
        const bytes = data.subarray(m.offset, m.offset + m.length);
        assert.equal(rows[k]!.sip_message, bytes.toString('utf8'), `${e.file} #${k}: framed bytes`);
        checkRow(`${e.file} #${k}`, rows[k], bytes, m, 'TCP');
      });
    }
  });
});
