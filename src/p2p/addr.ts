import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import type { Endpoint } from '../lifecycle.js';
import { ERROR_CODES, SipwardenError } from '../errors.js';

/** Default P2P port (SentryPeer's 4222). */
export const DEFAULT_P2P_PORT = 4222;

/** `/ip4/<ip>/tcp/<port>` or `/ip6/<ip>/tcp/<port>` for a listen endpoint. */
export function endpointToMultiaddr(e: Endpoint): string {
  return `/${e.ip.includes(':') ? 'ip6' : 'ip4'}/${e.ip}/tcp/${e.port}`;
}

/** One `-b` entry, parsed. `peerId` is known only for full multiaddrs ending in `/p2p/<id>`. */
export interface BootstrapTarget {
  /** As given, for logs. */
  text: string;
  /** Multiaddr if given as one; else host and port to resolve at each dial. */
  addr: Multiaddr | null;
  host: string;
  port: number;
  peerId: string | null;
}

/**
 * Parses a `-b` value: a multiaddr (`/ip4/…/tcp/…[/p2p/…]`, `/dns4/…`) or SentryPeer-style `host[:port]`
 * (`[v6]:port`, a bare IPv6 literal, or a host name). Throws on anything else.
 */
export function parseBootstrap(text: string): BootstrapTarget {
  const t = text.trim();
  if (t.startsWith('/')) {
    const ma = multiaddr(t);
    const peerId = ma.getComponents().find((c) => c.name === 'p2p')?.value ?? null;
    return { text: t, addr: ma, host: '', port: 0, peerId };
  }
  let host = t;
  let port = DEFAULT_P2P_PORT;
  const br = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  if (br) {
    host = br[1]!;
    if (br[2]) port = Number(br[2]);
  } else if (isIP(t) !== 6) {
    const i = t.lastIndexOf(':');
    if (i >= 0) {
      host = t.slice(0, i);
      port = Number(t.slice(i + 1));
    }
  }
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535 || /[\s/]/.test(host)) {
    throw new SipwardenError(ERROR_CODES.CONFIG_INVALID, `not a multiaddr or host[:port]: ${text}`, 2);
  }
  return { text: t, addr: null, host, port, peerId: null };
}

/** The multiaddrs to dial for a target now (host names resolved each time, so a moved peer is found). */
export async function resolveTarget(t: BootstrapTarget): Promise<Multiaddr[]> {
  if (t.addr) return [t.addr];
  const ips = isIP(t.host) ? [{ address: t.host }] : await lookup(t.host, { all: true });
  return ips.map((a) => multiaddr(`/${a.address.includes(':') ? 'ip6' : 'ip4'}/${a.address}/tcp/${t.port}`));
}
