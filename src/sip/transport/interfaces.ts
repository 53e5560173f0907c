import { networkInterfaces } from 'node:os';

/**
 * Local unicast addresses of one family, for binding one UDP socket per address under a wildcard listener
 * (the capture rules: the destination address must be known and replies must come from it). IPv6 link-local addresses
 * need a zone and are left to the wildcard catch-all socket.
 */
export function localAddresses(family: 4 | 6): string[] {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family !== (family === 4 ? 'IPv4' : 'IPv6')) continue;
      if (family === 6 && /^fe[89ab]/i.test(a.address)) continue;
      out.add(a.address);
    }
  }
  return [...out];
}

/** True for `0.0.0.0` and `::`. */
export function isWildcard(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::';
}
