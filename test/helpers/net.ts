/** Test helpers for sockets, tools and the daemon's database. */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A port that was free a moment ago for both UDP and TCP on the loopback (small race accepted in tests). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, host, () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const ok = await new Promise<boolean>((resolve) => {
      const u = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
      u.once('error', () => resolve(false));
      u.bind(port, host, () => u.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free port');
}

/** Runs a command with a hard timeout; never rejects on a non-zero exit. */
export function runTool(
  cmd: string,
  args: string[],
  timeoutMs = 30_000,
  opts: { input?: string; cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // A tool that exits before reading its stdin must not turn into an EPIPE exception in the test process.
    p.stdin.on('error', () => {});
    p.stdin.end(opts.input ?? '');
    const t = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, timeoutMs);
    p.on('error', (err) => {
      stderr += String(err);
    });
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

/** Sends one UDP datagram and collects replies for `waitMs`. */
export async function udpExchange(host: string, port: number, data: Buffer | string, waitMs = 500): Promise<Buffer[]> {
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const replies: Buffer[] = [];
  sock.on('message', (m) => replies.push(m));
  await new Promise<void>((r) => sock.bind(0, host.includes(':') ? '::1' : '127.0.0.1', () => r()));
  await new Promise<void>((r, j) => sock.send(typeof data === 'string' ? Buffer.from(data) : data, port, host, (e) => (e ? j(e) : r())));
  await new Promise((r) => setTimeout(r, waitMs));
  sock.close();
  return replies;
}

/** Read-only query of the daemon's database (WAL allows it while the daemon writes). */
export function queryDb<T = Record<string, unknown>>(dataDir: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(join(dataDir, 'sipwarden.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** A unique SIP request (fresh branch, Call-ID, tag). */
export function sipRequest(opts: {
  method?: string;
  user?: string;
  host?: string;
  transport?: 'UDP' | 'TCP' | 'TLS';
  ua?: string | null;
  body?: string;
  extraHeaders?: string[];
} = {}): string {
  const method = opts.method ?? 'OPTIONS';
  const host = opts.host ?? '127.0.0.1';
  const id = Math.random().toString(16).slice(2) + Date.now().toString(16);
  const body = opts.body ?? '';
  const lines = [
    `${method} sip:${opts.user ?? '100'}@${host} SIP/2.0`,
    `Via: SIP/2.0/${opts.transport ?? 'UDP'} 198.51.100.23:5099;branch=z9hG4bK${id};rport`,
    `From: "probe" <sip:probe@198.51.100.23>;tag=${id.slice(0, 8)}`,
    `To: <sip:${opts.user ?? '100'}@${host}>`,
    `Call-ID: ${id}@test`,
    `CSeq: 1 ${method}`,
    'Max-Forwards: 70',
    ...(opts.ua === null ? [] : [`User-Agent: ${opts.ua ?? 'sipwarden-test'}`]),
    ...(opts.extraHeaders ?? []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ];
  return lines.join('\r\n');
}

/**
 * nmap's SIP scripts only run on port 5060 or a port identified as `sip`; tests must use free ports. This copies
 * the installed NSE script unchanged except for its portrule, which then accepts any port we scan, so the real
 * script logic and traffic run against the test port. Returns the patched script's path.
 */
export function nmapScriptForAnyPort(name: string, dir: string): string {
  const src = readFileSync(`/usr/share/nmap/scripts/${name}.nse`, 'utf8');
  const patched = src.replace(/^portrule = .*$/m, 'portrule = function(host, port) return true end');
  if (patched === src) throw new Error(`no portrule found in ${name}.nse`);
  const out = join(dir, `${name}.nse`);
  writeFileSync(out, patched);
  return out;
}

/** The kernel's view of the IPv4 UDP sockets bound to `port`: bytes waiting in their receive queues and datagrams
 * dropped because a queue was full (the rx_queue and drops columns of /proc/net/udp, this namespace). */
export function udpSocketState(port: number): { rxQueue: number; drops: number } {
  const hexPort = ':' + port.toString(16).toUpperCase().padStart(4, '0');
  let rxQueue = 0;
  let drops = 0;
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 12 && f[1]!.endsWith(hexPort)) {
      rxQueue += parseInt(f[4]!.split(':')[1]!, 16);
      drops += Number(f[f.length - 1]);
    }
  }
  return { rxQueue, drops };
}

/** Waits (bounded) until the receive queues of the UDP sockets on `port` are empty: a sender that paces itself on
 * this never overflows them however slow a loaded machine makes the receiver. */
export async function udpDrained(port: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (udpSocketState(port).rxQueue > 0) {
    if (Date.now() > until) throw new Error(`UDP receive queue on port ${port} not drained in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
