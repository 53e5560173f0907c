import dgram from 'node:dgram';
import type { Endpoint } from '../../lifecycle.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import type { ReplyChannel } from '../responder/types.js';
import { isWildcard, localAddresses } from './interfaces.js';
import type { MessageHandler, SipListener } from './types.js';

/** Receive buffer we ask for; the kernel caps it at net.core.rmem_max. */
export const UDP_RECV_BUFFER = 4 * 1024 * 1024;
/** How often a wildcard listener looks for new local addresses. */
const RESCAN_MS = 60_000;

export interface UdpListenerInit {
  /** Configured address (may be a wildcard) and port (0 = ephemeral). */
  listen: Endpoint;
  handler: MessageHandler;
  metrics: Metrics;
  logger: Logger;
  /** Warn (once per process) when the kernel grants less than UDP_RECV_BUFFER. */
  onSmallBuffer?: (granted: number) => void;
}

interface BoundSocket {
  socket: dgram.Socket;
  /** The address replies come from and events record as destination. */
  local: Endpoint;
}

/**
 * UDP SIP listener. For a wildcard address it binds one socket per local address (so the destination address is
 * known and replies leave from it) plus a wildcard catch-all socket with SO_REUSEADDR for addresses that appear
 * later or cannot be bound (those record the wildcard as destination). Each datagram is read whole (≤65,535
 * bytes) and is one message.
 */
export function createUdpListener(init: UdpListenerInit): SipListener {
  const family: 4 | 6 = init.listen.ip.includes(':') ? 6 : 4;
  const type = family === 6 ? 'udp6' : 'udp4';
  const sockets = new Map<string, BoundSocket>();
  let port = init.listen.port;
  let rescanTimer: NodeJS.Timeout | null = null;
  let stopped = false;

  function bindOne(ip: string, reuse: boolean): Promise<BoundSocket> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket({ type, reuseAddr: reuse, ipv6Only: family === 6, recvBufferSize: UDP_RECV_BUFFER });
      const onError = (err: Error): void => {
        socket.close();
        reject(err);
      };
      socket.once('error', onError);
      socket.bind({ address: ip, port, exclusive: true }, () => {
        socket.off('error', onError);
        socket.on('error', (err) => init.logger.debug({ err, ip }, 'udp socket error'));
        if (port === 0) port = socket.address().port;
        const local: Endpoint = { ip, port: socket.address().port };
        const channelFor = (rinfo: dgram.RemoteInfo): ReplyChannel => ({
          open: true,
          send(data: Buffer) {
            if (stopped) return;
            // No per-send callback: it costs a closure and a completion round-trip per reply on the hot path;
            // a failed send surfaces as the socket's 'error' event instead.
            socket.send(data, rinfo.port, rinfo.address);
          },
        });
        socket.on('message', (msg, rinfo) => {
          try {
            init.handler.handle(
              msg,
              { transport: 'UDP', source: { ip: stripV4Mapped(rinfo.address), port: rinfo.port }, local },
              channelFor(rinfo),
            );
          } catch (err) {
            // The pipeline contains its own errors; this is the last line of defence for one packet.
            init.metrics.internalErrors.inc({ component: 'udp' });
            init.logger.error({ err }, 'udp message handling failed');
          }
        });
        try {
          const granted = socket.getRecvBufferSize();
          // Linux reports double the value it set.
          if (granted / 2 < UDP_RECV_BUFFER) init.onSmallBuffer?.(granted / 2);
        } catch {
          /* not fatal */
        }
        resolve({ socket, local });
      });
    });
  }

  async function rescan(): Promise<void> {
    for (const ip of localAddresses(family)) {
      if (sockets.has(ip) || stopped) continue;
      try {
        sockets.set(ip, await bindOne(ip, true));
      } catch (err) {
        init.logger.debug({ err, ip }, 'udp per-address bind skipped');
      }
    }
  }

  return {
    async start() {
      stopped = false;
      if (!isWildcard(init.listen.ip)) {
        sockets.set(init.listen.ip, await bindOne(init.listen.ip, false));
        return;
      }
      // Wildcard. The sockets below share the port through SO_REUSEADDR, which would also let us silently share
      // it with another process; so first prove the port is free with an exclusive bind (this also fixes an
      // ephemeral port), then bind the catch-all and one socket per address.
      const probe = await bindOne(init.listen.ip, false);
      await new Promise<void>((r) => probe.socket.close(() => r()));
      sockets.set(init.listen.ip, await bindOne(init.listen.ip, true));
      await rescan();
      rescanTimer = setInterval(() => void rescan(), RESCAN_MS);
      rescanTimer.unref();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (rescanTimer) clearInterval(rescanTimer);
      await Promise.all(
        [...sockets.values()].map((b) => new Promise<void>((r) => b.socket.close(() => r()))),
      );
      sockets.clear();
    },
    addresses() {
      const wild = sockets.get(init.listen.ip);
      return wild ? [wild.local] : [];
    },
  };
}

/**
 * A socket address as the event fields stores it: `::ffff:1.2.3.4` → `1.2.3.4`, zone id dropped (`fe80::1%eth0` →
 * `fe80::1`). The kernel already writes IPv6 in RFC 5952 form, so this stays a cheap fast path instead of a full
 * `normalizeIp` per packet.
 */
export function stripV4Mapped(ip: string): string {
  const pct = ip.indexOf('%');
  const bare = pct === -1 ? ip : ip.slice(0, pct);
  return bare.startsWith('::ffff:') && bare.includes('.') ? bare.slice(7) : bare;
}
