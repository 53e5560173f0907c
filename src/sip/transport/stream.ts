import net from 'node:net';
import tls from 'node:tls';
import type { Endpoint } from '../../lifecycle.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import { createStreamFramer } from '../wire/framer.js';
import type { ReplyChannel } from '../responder/types.js';
import type { MessageHandler, SipListener } from './types.js';
import { stripV4Mapped } from './udp.js';
import { isDescriptorExhaustion } from './descriptors.js';

/** Default for {@link StreamLimits.handshakeTimeoutMs}. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;
/** Default for {@link StreamLimits.maxUnsentBytes}. */
export const DEFAULT_MAX_UNSENT_BYTES = 64 * 1024;
/** Keep-alive pongs per connection: a burst of this many, then {@link PONG_RATE_PER_S} (RFC 5626 clients ping every ~30–120 s). */
export const PONG_BURST = 10;
export const PONG_RATE_PER_S = 2;
/** A connection whose pings exceeded the pong cap this many times is flooding and is closed. */
export const KEEPALIVE_FLOOD_PINGS = 1_000;

/** Connection limits of TCP/TLS listeners (docs/LIMITS.md). Shared by every stream listener of a node. */
export interface StreamLimits {
  maxMessageBytes: number;
  idleTimeoutMs: number;
  maxConnectionsPerSource: number;
  maxConnections: number;
  /** A TLS handshake must complete within this; default {@link DEFAULT_HANDSHAKE_TIMEOUT_MS}. */
  handshakeTimeoutMs?: number;
  /**
   * Bytes written to a peer that Node still holds because the peer does not read (socket `writableLength`);
   * past this the connection is closed. Default {@link DEFAULT_MAX_UNSENT_BYTES}.
   */
  maxUnsentBytes?: number;
}

/** Why a connection was refused at accept. */
export type OpenVerdict = 'ok' | 'per_source' | 'total' | 'descriptors';

/**
 * Per-node connection accounting shared by all TCP and TLS listeners, so the caps hold across them. A slot is
 * taken at accept (before any TLS handshake) and given back when the connection closes.
 */
export class ConnectionTable {
  private readonly perSource = new Map<string, number>();
  private total = 0;
  /**
   * @param descriptorBudget connections the descriptor limit leaves room for (see `connectionBudget`); the
   *   total cap is the smaller of this and `limits.maxConnections`.
   */
  constructor(
    private readonly limits: StreamLimits,
    private readonly descriptorBudget = Infinity,
  ) {}

  /** The total cap in force. */
  get cap(): number {
    return Math.min(this.limits.maxConnections, this.descriptorBudget);
  }

  /** Connections holding a slot now. */
  get open(): number {
    return this.total;
  }

  /** Reserves a slot; returns the reason when a cap is reached. */
  tryOpen(ip: string): OpenVerdict {
    if (this.total >= this.limits.maxConnections) return 'total';
    if (this.total >= this.descriptorBudget) return 'descriptors';
    const n = this.perSource.get(ip) ?? 0;
    if (n >= this.limits.maxConnectionsPerSource) return 'per_source';
    this.perSource.set(ip, n + 1);
    this.total++;
    return 'ok';
  }

  close(ip: string): void {
    const n = this.perSource.get(ip) ?? 0;
    if (n <= 1) this.perSource.delete(ip);
    else this.perSource.set(ip, n - 1);
    this.total = Math.max(0, this.total - 1);
  }
}

export interface StreamListenerInit {
  kind: 'TCP' | 'TLS';
  listen: Endpoint;
  handler: MessageHandler;
  limits: StreamLimits;
  connections: ConnectionTable;
  metrics: Metrics;
  logger: Logger;
  /** PEM certificate and key, for TLS. */
  tls?: { cert: Buffer; key: Buffer };
  /** Told about EMFILE/ENFILE errors of the listening socket. */
  onDescriptorExhaustion?: (err: Error) => void;
}

const PONG = Buffer.from('\r\n');

/**
 * TCP or TLS SIP listener: many messages per connection framed by Content-Length, CRLF keep-alives,
 * per-source and total connection caps, idle timeout, message size cap. A malformed message or an
 * oversize one closes that connection only.
 *
 * Everything an attacker can hold is bounded: a connection counts against the caps (and the connections gauge)
 * from accept, so TLS clients that never finish the handshake are capped like any other and closed after the
 * handshake timeout; every write to the peer goes through one check that closes the connection once more than
 * `maxUnsentBytes` wait unread; keep-alive pongs are rate-capped per connection and a ping flood closes it.
 */
export function createStreamListener(init: StreamListenerInit): SipListener {
  const label = init.kind.toLowerCase();
  const sockets = new Set<net.Socket>();
  const handshakeMs = init.limits.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const maxUnsent = init.limits.maxUnsentBytes ?? DEFAULT_MAX_UNSENT_BYTES;
  /** Made in start(), so a bad certificate fails there, like a listen error. */
  let secureContext: tls.SecureContext | null = null;
  let server: net.Server | null = null;
  let bound: Endpoint | null = null;
  const refuse = (reason: string): void => init.metrics.tcpRejected.inc({ transport: label, reason });

  /** Accept: take a slot first (TLS included), then serve TCP at once or TLS after its handshake. */
  function onAccept(raw: net.Socket): void {
    const sourceIp = stripV4Mapped(raw.remoteAddress ?? '');
    const verdict = init.connections.tryOpen(sourceIp);
    if (verdict !== 'ok') {
      refuse(verdict);
      raw.on('error', () => {});
      raw.destroy();
      return;
    }
    init.metrics.tcpConnections.inc({ transport: label });
    sockets.add(raw);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      sockets.delete(raw);
      init.connections.close(sourceIp);
      init.metrics.tcpConnections.dec({ transport: label });
    };
    raw.on('close', release);
    raw.on('error', (err) => init.logger.debug({ err: err.message }, `${label} connection error`));
    if (!secureContext) {
      serve(raw, raw, sourceIp);
      return;
    }
    // TLS: wrapped here rather than by tls.Server, so the slot and the timers above apply before the handshake.
    const t = new tls.TLSSocket(raw, { isServer: true, secureContext, requestCert: false, rejectUnauthorized: false });
    const kill = (): void => {
      t.destroy();
      raw.destroy();
    };
    // The idle timeout also applies during the handshake, when it is the shorter of the two.
    const pre = Math.min(handshakeMs, init.limits.idleTimeoutMs);
    const timer = setTimeout(() => {
      refuse(pre === handshakeMs ? 'handshake_timeout' : 'idle');
      kill();
    }, pre);
    t.on('close', () => {
      clearTimeout(timer);
      raw.destroy();
      release();
    });
    let secure = false;
    t.on('error', (err) => {
      if (!secure) {
        init.metrics.tlsHandshakeFailures.inc();
        init.logger.debug({ err: err.message }, 'tls handshake failed');
      } else {
        init.logger.debug({ err: err.message }, 'tls connection error');
      }
      kill();
    });
    t.once('secure', () => {
      secure = true;
      clearTimeout(timer);
      if (t.destroyed) return;
      serve(t, raw, sourceIp);
    });
  }

  /** SIP over an established stream: `sock` carries the SIP bytes (the TLS socket, or the TCP socket itself). */
  function serve(sock: net.Socket, raw: net.Socket, sourceIp: string): void {
    const source: Endpoint = { ip: sourceIp, port: raw.remotePort ?? 0 };
    const local: Endpoint = { ip: stripV4Mapped(raw.localAddress ?? init.listen.ip), port: raw.localPort ?? 0 };
    const framer = createStreamFramer({ maxMessageBytes: init.limits.maxMessageBytes });
    const close = (): void => {
      sock.destroy();
      if (raw !== sock) raw.destroy();
    };
    /** Bytes written but not yet taken by the kernel: they grow only while the peer does not read. */
    const unsent = (): number => sock.writableLength + (raw !== sock ? raw.writableLength : 0);
    let closedForBackpressure = false;
    /** The only way bytes reach the peer. */
    const write = (data: Buffer): void => {
      if (sock.destroyed || !sock.writable) return;
      if (unsent() + data.length > maxUnsent) {
        if (!closedForBackpressure) {
          closedForBackpressure = true;
          refuse('backpressure');
          init.logger.debug({ ip: sourceIp }, `${label} peer does not read; connection closed`);
        }
        close();
        return;
      }
      sock.write(data);
    };
    const channel: ReplyChannel = {
      get open() {
        return !sock.destroyed && sock.writable;
      },
      send: write,
    };
    // Keep-alive pong bucket (tokens refill continuously).
    let tokens = PONG_BURST;
    let refilled = Date.now();
    let excessPings = 0;
    /** True when this ping may be answered; closes the connection on a flood. */
    const pingAllowed = (): boolean => {
      const now = Date.now();
      tokens = Math.min(PONG_BURST, tokens + ((now - refilled) * PONG_RATE_PER_S) / 1000);
      refilled = now;
      if (tokens >= 1) {
        tokens -= 1;
        return true;
      }
      init.metrics.sipKeepalivePongsSuppressed.inc({ transport: label });
      if (++excessPings >= KEEPALIVE_FLOOD_PINGS) {
        refuse('keepalive_flood');
        close();
      }
      return false;
    };
    sock.setTimeout(init.limits.idleTimeoutMs);
    raw.setNoDelay(true);
    sock.on('timeout', () => {
      refuse('idle');
      close();
    });
    sock.on('data', (chunk: Buffer) => {
      try {
        for (const item of framer.push(chunk)) {
          if (sock.destroyed) return;
          if (item.kind === 'message') {
            const result = init.handler.handle(item.bytes, { transport: init.kind, source, local }, channel);
            if (result === 'malformed') {
              close();
              return;
            }
          } else if (item.kind === 'keepalive') {
            init.metrics.sipKeepalives.inc({ transport: label });
            if (item.pong && pingAllowed() && init.handler.answersKeepalives) write(PONG);
          } else {
            init.metrics.sipMalformed.inc({ transport: label, reason: item.reason });
            close();
            return;
          }
        }
      } catch (err) {
        init.metrics.internalErrors.inc({ component: label });
        init.logger.error({ err }, `${label} stream handling failed`);
        close();
      }
    });
  }

  return {
    async start() {
      if (server) return;
      const family = init.listen.ip.includes(':') ? 6 : 4;
      if (init.kind === 'TLS') secureContext = tls.createSecureContext({ cert: init.tls!.cert, key: init.tls!.key, minVersion: 'TLSv1.2' });
      server = net.createServer({ noDelay: true });
      server.on('connection', onAccept);
      const srv = server;
      await new Promise<void>((resolve, reject) => {
        const onErr = (err: Error): void => {
          // A failed listen is the caller's error line, not a warning here too.
          server = null;
          reject(err);
        };
        srv.once('error', onErr);
        srv.listen({ host: init.listen.ip, port: init.listen.port, ipv6Only: family === 6, backlog: 1024 }, () => {
          srv.off('error', onErr);
          // Attached only now: a bind failure is the caller's error to report, not a warning.
          srv.on('error', (err) => {
            if (isDescriptorExhaustion(err)) init.onDescriptorExhaustion?.(err);
            else init.logger.warn({ err }, `${label} server error`);
          });
          const a = srv.address() as net.AddressInfo;
          bound = { ip: init.listen.ip, port: a.port };
          resolve();
        });
      });
    },
    async stop() {
      const srv = server;
      if (!srv) return;
      server = null;
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    },
    addresses() {
      return bound ? [bound] : [];
    },
  };
}
