// UDP reflection bound, end to end against the real daemon (`-r`, freepbx): an unverified source gets at most
// 3× its request's bytes back (provisional, final and retransmitted replies together); a source that proved its
// address (ACK echoing our To-tag) keeps full RFC 3261 behaviour, Timer G resends included.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { cleanup, startDaemon, type Daemon } from '../helpers/daemon.js';

/** The hardening issue's 206-byte INVITE (no credentials, no body). */
function invite(branch: string, callId: string, lport: number): Buffer {
  const head =
    `INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${lport};branch=z9hG4bK${branch}\r\n` +
    `From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: ${callId}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n`;
  const pad = 206 - Buffer.byteLength(head);
  assert.ok(pad >= 0);
  return Buffer.from(head.replace(`Call-ID: ${callId}`, `Call-ID: ${callId}${'x'.repeat(pad)}`));
}

function ack(inv: Buffer, toTag: string): Buffer {
  const text = inv.toString();
  const to = /^To: (.*)$/m.exec(text)![1]!;
  return Buffer.from(text.replace(/^INVITE /, 'ACK ').replace(/ INVITE\r\n/, ' ACK\r\n').replace(`To: ${to}`, `To: ${to};tag=${toTag}`));
}

interface Client {
  port: number;
  got: Array<{ at: number; bytes: Buffer }>;
  send(b: Buffer): Promise<void>;
  close(): void;
}

async function client(target: number): Promise<Client> {
  const sock = dgram.createSocket('udp4');
  const got: Client['got'] = [];
  sock.on('message', (m) => got.push({ at: Date.now(), bytes: m }));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return {
    port: sock.address().port,
    got,
    send: (b) => new Promise((r, j) => sock.send(b, target, '127.0.0.1', (e) => (e ? j(e) : r()))),
    close: () => sock.close(),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const status = (b: Buffer): number => Number(b.toString('latin1', 8, 11));

describe('UDP reflection bound', { timeout: 120_000 }, () => {
  let d: Daemon;
  let port: number;
  before(async () => {
    d = await startDaemon(['-r', '--sip-listen', '127.0.0.1:0', '--no-tls'], { expect: { udp: 1 } });
    port = d.endpoint('udp', 4).port;
  });
  after(async () => {
    await d.stop();
    cleanup(d.dataDir);
  });

  test('a 206-byte INVITE from an unverified source: ≤ 3× its bytes back, the 401 included, no resends', async () => {
    const c = await client(port);
    try {
      const req = invite('refl1', 'refl-1', c.port);
      assert.equal(req.length, 206);
      await c.send(req);
      // Timer G would resend at 0.5, 1.5 and 3.5 s: wait past them.
      await sleep(5000);
      const total = c.got.reduce((a, g) => a + g.bytes.length, 0);
      assert.ok(total <= 3 * 206, `${total} bytes in ${c.got.length} replies`);
      // 100 Trying goes out only when it and the 401 fit together; the 401 always, once.
      const codes = c.got.map((g) => status(g.bytes));
      assert.equal(codes.filter((x) => x === 401).length, 1, `${codes} (${total} bytes)`);
      assert.ok(codes.every((x) => x === 100 || x === 401), String(codes));
    } finally {
      c.close();
    }
  });

  test('a retransmitted INVITE earns its reply again (a lossy real UAC still gets the challenge)', async () => {
    const c = await client(port);
    try {
      const req = invite('refl2', 'refl-2', c.port);
      await c.send(req);
      await sleep(600);
      await c.send(req);
      await sleep(1500);
      const total = c.got.reduce((a, g) => a + g.bytes.length, 0);
      assert.ok(total <= 2 * 3 * 206, `${total} bytes`);
      assert.equal(c.got.filter((g) => status(g.bytes) === 401).length, 2, String(c.got.map((g) => status(g.bytes))));
    } finally {
      c.close();
    }
  });

  test('after an ACK echoing our To-tag the source is verified: 100, 401 and Timer G resends until ACK', async () => {
    const c = await client(port);
    try {
      const first = invite('refl3', 'refl-3', c.port);
      await c.send(first);
      await sleep(300);
      const challenge = c.got.find((g) => status(g.bytes) === 401);
      const tag = challenge && /^To: .*;tag=([0-9a-f]+)\r$/m.exec(challenge.bytes.toString())?.[1];
      assert.ok(tag, String(c.got.map((g) => g.bytes.toString())));
      await c.send(ack(first, tag));
      await sleep(300);
      c.got.length = 0;
      const second = invite('refl4', 'refl-4', c.port);
      await c.send(second);
      await sleep(2200); // 401 at 0, resends at 0.5 and 1.5 s
      const codes = c.got.map((g) => status(g.bytes));
      assert.equal(codes[0], 100, String(codes));
      assert.ok(codes.filter((x) => x === 401).length >= 3, `Timer G resends: ${codes}`);
      const tag2 = /^To: .*;tag=([0-9a-f]+)\r$/m.exec(c.got.find((g) => status(g.bytes) === 401)!.bytes.toString())![1]!;
      await c.send(ack(second, tag2));
      await sleep(300);
      const n = c.got.length;
      await sleep(4500);
      assert.equal(c.got.length, n, 'the ACK ended the resends');
    } finally {
      c.close();
    }
  });
});
