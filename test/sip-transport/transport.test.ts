/**
 * Transports + capture pipeline in-process over real sockets (no daemon): UDP per-address sockets under a wildcard,
 * TCP framing across segments, retransmissions, the connection caps, the allow list.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import type { HoneypotEvent } from '../../src/events/event.js';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { createCapture } from '../../src/sip/capture.js';
import { extractCredentials } from '../../src/sip/responder/credentials.js';
import type { Responder } from '../../src/sip/responder/types.js';
import { ConnectionTable, createStreamListener } from '../../src/sip/transport/stream.js';
import type { SipListener } from '../../src/sip/transport/types.js';
import { createUdpListener } from '../../src/sip/transport/udp.js';
import { waitFor } from '../helpers/daemon.js';
import { sipRequest, udpExchange } from '../helpers/net.js';

const logger = createLogger('silent');

/** A responder that answers every request with a fixed line, to see replies flow back. */
function echoResponder(): Responder & { calls: number } {
  return {
    calls: 0,
    async start() {},
    async stop() {},
    handle(req, reply) {
      this.calls++;
      reply.send(Buffer.from(`SIP/2.0 200 OK\r\nX-Retrans: ${req.retransmission}\r\n\r\n`));
      return { responseCode: 200, sourceVerified: false };
    },
  };
}

function setup(opts: { responder?: Responder | null; allow?: string[] } = {}) {
  const metrics = new Metrics({ processMetrics: false });
  const events: HoneypotEvent[] = [];
  const capture = createCapture({
    nodeId: '00000000-0000-4000-8000-000000000000',
    responder: opts.responder ?? null,
    extractCredentials,
    isAllowed: (ip) => (opts.allow ?? []).includes(ip),
    onEvent: (e) => events.push(e),
    metrics,
    logger,
  });
  return { metrics, events, capture };
}

const listeners: SipListener[] = [];
after(async () => {
  for (const l of listeners) await l.stop();
});

describe('UDP listener', () => {
  test('wildcard listener records the real destination address and replies from it', async () => {
    const { capture, events } = setup({ responder: echoResponder() });
    const udp = createUdpListener({ listen: { ip: '0.0.0.0', port: 0 }, handler: capture, metrics: new Metrics({ processMetrics: false }), logger });
    await udp.start();
    listeners.push(udp);
    const port = udp.addresses()[0]!.port;
    assert.ok(port > 0);
    const replies = await udpExchange('127.0.0.1', port, sipRequest({ user: 'dest-check' }), 300);
    assert.equal(replies.length, 1);
    await waitFor(() => events.length === 1);
    assert.equal(events[0]!.destinationIp, '127.0.0.1');
    assert.equal(events[0]!.destinationPort, port);
    assert.equal(events[0]!.sourceIp, '127.0.0.1');
    assert.equal(events[0]!.transport, 'UDP');
    assert.equal(events[0]!.collectedMethod, 'responsive');
    await udp.stop();
  });

  test('a retransmission is answered again but is not a new event', async () => {
    const responder = echoResponder();
    const { capture, events, metrics } = setup({ responder });
    const udp = createUdpListener({ listen: { ip: '127.0.0.1', port: 0 }, handler: capture, metrics, logger });
    await udp.start();
    listeners.push(udp);
    const port = udp.addresses()[0]!.port;
    const msg = sipRequest({ user: 'retrans' });
    const sock = dgram.createSocket('udp4');
    const got: string[] = [];
    sock.on('message', (m) => got.push(m.toString()));
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    for (let i = 0; i < 3; i++) sock.send(msg, port, '127.0.0.1');
    await waitFor(() => got.length === 3);
    sock.close();
    assert.equal(events.length, 1);
    assert.deepEqual(got.map((g) => /X-Retrans: (\w+)/.exec(g)![1]), ['false', 'true', 'true']);
    assert.equal((await metrics.sipRetransmissions.get()).values[0]!.value, 2);
    await udp.stop();
  });

  test('passive mode sends nothing; allowed sources are answered but not recorded', async () => {
    const passive = setup();
    const udp = createUdpListener({ listen: { ip: '127.0.0.1', port: 0 }, handler: passive.capture, metrics: passive.metrics, logger });
    await udp.start();
    listeners.push(udp);
    assert.equal((await udpExchange('127.0.0.1', udp.addresses()[0]!.port, sipRequest(), 200)).length, 0);
    await waitFor(() => passive.events.length === 1);
    assert.equal(passive.events[0]!.collectedMethod, 'passive');
    assert.equal(passive.events[0]!.responseCode, null);

    const allowed = setup({ responder: echoResponder(), allow: ['127.0.0.1'] });
    const udp2 = createUdpListener({ listen: { ip: '127.0.0.1', port: 0 }, handler: allowed.capture, metrics: allowed.metrics, logger });
    await udp2.start();
    listeners.push(udp2);
    assert.equal((await udpExchange('127.0.0.1', udp2.addresses()[0]!.port, sipRequest(), 200)).length, 1);
    assert.equal(allowed.events.length, 0);
    assert.equal((await allowed.metrics.sipAllowed.get()).values[0]!.value, 1);
  });

  test('IPv6 source and destination are recorded in RFC 5952 form', async () => {
    const { capture, events, metrics } = setup();
    const udp = createUdpListener({ listen: { ip: '::1', port: 0 }, handler: capture, metrics, logger });
    await udp.start();
    listeners.push(udp);
    await udpExchange('::1', udp.addresses()[0]!.port, sipRequest({ host: '[::1]' }), 200);
    await waitFor(() => events.length === 1);
    assert.equal(events[0]!.sourceIp, '::1');
    assert.equal(events[0]!.destinationIp, '::1');
  });
});

describe('TCP listener', () => {
  const limits = { maxMessageBytes: 65_535, idleTimeoutMs: 5_000, maxConnectionsPerSource: 3, maxConnections: 100 };

  async function tcpSetup(responder: Responder | null = echoResponder()) {
    const s = setup({ responder });
    const tcp = createStreamListener({ kind: 'TCP', listen: { ip: '127.0.0.1', port: 0 }, handler: s.capture, limits, connections: new ConnectionTable(limits), metrics: s.metrics, logger });
    await tcp.start();
    listeners.push(tcp);
    return { ...s, tcp, port: tcp.addresses()[0]!.port };
  }

  test('two messages in one segment are two events; a message split over segments is one', async () => {
    const { events, port } = await tcpSetup();
    const a = sipRequest({ transport: 'TCP', user: 'one' });
    const b = sipRequest({ transport: 'TCP', user: 'two', body: 'v=0\r\n' });
    const c = sipRequest({ transport: 'TCP', user: 'three' });
    const sock = net.connect(port, '127.0.0.1');
    let answers = '';
    sock.on('data', (d) => (answers += d.toString()));
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(a + b + '\r\n\r\n');
    await waitFor(() => events.length === 2);
    // Both replies, then the CRLFCRLF keep-alive answered with a single CRLF (responsive mode).
    await waitFor(() => (answers.match(/SIP\/2\.0 200 OK/g) ?? []).length === 2 && answers.endsWith('\r\n\r\n\r\n'));
    for (let i = 0; i < c.length; i += 7) {
      sock.write(c.slice(i, i + 7));
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => events.length === 3);
    await waitFor(() => (answers.match(/SIP\/2\.0 200 OK/g) ?? []).length === 3);
    assert.deepEqual(events.map((e) => e.requestUriUser), ['one', 'two', 'three']);
    assert.ok(events.every((e) => e.sourceVerified && e.transport === 'TCP'));
    assert.equal(events[1]!.sipMessage, b);
    sock.destroy();
  });

  test('a malformed message closes only its connection', async () => {
    const { events, port } = await tcpSetup();
    const bad = net.connect(port, '127.0.0.1');
    bad.on('error', () => {});
    await new Promise<void>((r) => bad.once('connect', () => r()));
    bad.write('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n');
    await new Promise<void>((r) => bad.once('close', () => r()));
    const good = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => good.once('connect', () => r()));
    good.write(sipRequest({ transport: 'TCP', user: 'good' }));
    await waitFor(() => events.length === 1);
    good.destroy();
  });

  test('the per-source connection cap refuses extra connections', async () => {
    const { port, metrics } = await tcpSetup(null);
    const socks = Array.from({ length: 6 }, () => {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      return s;
    });
    await waitFor(async () => ((await metrics.tcpRejected.get()).values.find((v) => v.labels.reason === 'per_source')?.value ?? 0) === 3);
    for (const s of socks) s.destroy();
  });
});
