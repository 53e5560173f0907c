import net from 'node:net';
import tls from 'node:tls';
import type { Endpoint } from '../../lifecycle.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import { createStreamFramer } from '../wire/framer.js';
import type { ReplyChannel } from '../responder/types.js';
import type { MessageHandler, SipListener } from './types.js';
import { stripV4Mapped } from './udp.js';

/** Connection limits of TCP/TLS listeners (SPEC §5.3; docs/LIMITS.md). Shared by every stream listener of a node. */
export interface StreamLimits {
  maxMessageBytes: number;
  idleTimeoutMs: number;
  maxConnectionsPerSource: number;
  maxConnections: number;
}

/** Per-node connection accounting shared by all TCP and TLS listeners, so the caps hold across them. */
export class ConnectionTable {
  private readonly perSource = new Map<string, number>();
  private total = 0;
  constructor(private readonly limits: StreamLimits) {}

  /** Reserves a slot; returns the reason when a cap is reached. */
  tryOpen(ip: string): 'ok' | 'per_source' | 'total' {
    if (this.total >= this.limits.maxConnections) return 'total';
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
}

/**
 * TCP or TLS SIP listener: many messages per connection framed by Content-Length, CRLF keep-alives,
 * per-source and total connection caps, idle timeout, message size cap (SPEC §5.3). A malformed message or an
 * oversize one closes that connection only.
 */
export function createStreamListener(init: StreamListenerInit): SipListener {
  const label = init.kind.toLowerCase();
  const sockets = new Set<net.Socket>();
  let server: net.Server | null = null;
  let bound: Endpoint | null = null;

  function onConnection(socket: net.Socket): void {
    const sourceIp = stripV4Mapped(socket.remoteAddress ?? '');
    const verdict = init.connections.tryOpen(sourceIp);
    if (verdict !== 'ok') {
      init.metrics.tcpRejected.inc({ transport: label, reason: verdict });
      socket.destroy();
      return;
    }
    sockets.add(socket);
    init.metrics.tcpConnections.inc({ transport: label });
    const source: Endpoint = { ip: sourceIp, port: socket.remotePort ?? 0 };
    const local: Endpoint = { ip: stripV4Mapped(socket.localAddress ?? init.listen.ip), port: socket.localPort ?? 0 };
    const framer = createStreamFramer({ maxMessageBytes: init.limits.maxMessageBytes });
    const channel: ReplyChannel = {
      get open() {
        return !socket.destroyed && socket.writable;
      },
      send(data: Buffer) {
        if (!socket.destroyed && socket.writable) socket.write(data);
      },
    };
    socket.setTimeout(init.limits.idleTimeoutMs);
    socket.setNoDelay(true);
    socket.on('timeout', () => {
      init.metrics.tcpRejected.inc({ transport: label, reason: 'idle' });
      socket.destroy();
    });
    socket.on('error', (err) => init.logger.debug({ err: err.message }, `${label} connection error`));
    socket.on('close', () => {
      sockets.delete(socket);
      init.connections.close(sourceIp);
      init.metrics.tcpConnections.dec({ transport: label });
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const item of framer.push(chunk)) {
          if (item.kind === 'message') {
            const result = init.handler.handle(item.bytes, { transport: init.kind, source, local }, channel);
            if (result === 'malformed') {
              socket.destroy();
              return;
            }
          } else if (item.kind === 'keepalive') {
            init.metrics.sipKeepalives.inc({ transport: label });
            if (item.pong && init.handler.answersKeepalives) channel.send(Buffer.from('\r\n'));
          } else {
            init.metrics.sipMalformed.inc({ transport: label, reason: item.reason });
            socket.destroy();
            return;
          }
        }
      } catch (err) {
        init.metrics.internalErrors.inc({ component: label });
        init.logger.error({ err }, `${label} stream handling failed`);
        socket.destroy();
      }
    });
  }

  return {
    async start() {
      if (server) return;
      const family = init.listen.ip.includes(':') ? 6 : 4;
      server =
        init.kind === 'TLS'
          ? tls.createServer({ cert: init.tls!.cert, key: init.tls!.key, minVersion: 'TLSv1.2' })
          : net.createServer();
      if (init.kind === 'TLS') {
        server.on('secureConnection', onConnection);
        server.on('tlsClientError', (err: Error, s: tls.TLSSocket) => {
          init.metrics.tlsHandshakeFailures.inc();
          init.logger.debug({ err: err.message }, 'tls handshake failed');
          s.destroy();
        });
      } else {
        server.on('connection', onConnection);
      }
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
          srv.on('error', (err) => init.logger.warn({ err }, `${label} server error`));
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
