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
 * Prints the fixed start-up line for a bound listener, e.g. `sipwarden: listening udp [::1]:5060`.
 * For p2p, `where` is the full multiaddr including `/p2p/<PeerId>`.
 */
export function announceListening(kind: 'udp' | 'tcp' | 'tls' | 'http' | 'p2p' | 'opendht', where: Endpoint | string): void {
  const address = typeof where === 'string' ? where : formatEndpoint(where);
  if (lineFormat === 'json') {
    const line = { level: 30, time: Date.now(), app: 'sipwarden', component: 'startup', msg: 'listening', kind, address };
    process.stderr.write(JSON.stringify(line) + '\n');
    return;
  }
  process.stderr.write(`sipwarden: listening ${kind} ${address}\n`);
}

/** `--log-format` of the start-up lines (listening lines included) and `-v` probe lines. */
let lineFormat: 'text' | 'json' = 'text';

/** Sets the format of start-up and probe lines; the CLI calls it once from `--log-format`. */
export function setLineFormat(f: 'text' | 'json'): void {
  lineFormat = f;
}

/** The current format of start-up and probe lines. */
export function getLineFormat(): 'text' | 'json' {
  return lineFormat;
}

/** Prints a start-up warning line: `sipwarden: warning: <text>` (a JSON object with `--log-format json`). */
export function warnLine(text: string): void {
  if (lineFormat === 'json') {
    process.stderr.write(JSON.stringify({ level: 40, time: Date.now(), app: 'sipwarden', component: 'startup', msg: text }) + '\n');
    return;
  }
  process.stderr.write(`sipwarden: warning: ${text}\n`);
}
