/**
 * Long-lived parts implement Startable. `stop()` is idempotent and drains whatever the part queued
 * (store batches, sink queues) before it resolves.
 */
export interface Startable {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Network endpoint: IP literal (IPv6 without brackets, RFC 5952 form) and port. */
export interface Endpoint {
  ip: string;
  port: number;
}

/** Formats an endpoint as `addr:port`, IPv6 in brackets (`[::1]:5060`). */
export function formatEndpoint(e: Endpoint): string {
  return e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
}

/**
 * Prints the fixed SPEC §2.6 start-up line for a bound listener, e.g. `sipwarden: listening udp [::1]:5060`.
 * For p2p, `where` is the full multiaddr including `/p2p/<PeerId>`.
 */
export function announceListening(kind: 'udp' | 'tcp' | 'tls' | 'http' | 'p2p' | 'opendht', where: Endpoint | string): void {
  process.stderr.write(`sipwarden: listening ${kind} ${typeof where === 'string' ? where : formatEndpoint(where)}\n`);
}

/** Prints a fixed plain-text start-up warning line: `sipwarden: warning: <text>`. */
export function warnLine(text: string): void {
  process.stderr.write(`sipwarden: warning: ${text}\n`);
}
