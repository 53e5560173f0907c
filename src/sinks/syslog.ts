import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { constants as osConstants, hostname as osHostname } from 'node:os';
import unixDgram, { type UnixDgramSocket } from 'unix-dgram';
import { ConfigError, ERROR_CODES, SipwardenError } from '../errors.js';
import type { HoneypotEvent } from '../events/event.js';
import { escapeAttackerText, type Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { createSinkQueue, estimateEventBytes } from './queue.js';
import type { Sink } from './types.js';

/** Inputs of the syslog sink. */
export interface SyslogSinkInit {
  /** `--syslog-target`: `/path`, `unix:/path` (local datagram socket, default `/dev/log`) or `udp://host:port`. */
  target: string;
  /** `--syslog-ident` (`sipwarden`, or `sentrypeer` for existing filters). */
  ident: string;
  metrics: Metrics;
  logger: Logger;
  /** Host name written after the time on `udp://` (RFC 3164). Default: the short `os.hostname()`. */
  hostname?: string;
  /** Process id written as `IDENT[PID]`. Default `process.pid`. */
  pid?: number;
  /** Time between reconnect attempts after a failure, ms. Default 10,000. */
  retryMs?: number;
}

/** A parsed `--syslog-target`. */
export type SyslogTarget = { kind: 'unix'; path: string } | { kind: 'udp'; host: string; port: number };

/** Parses `--syslog-target`; throws ConfigError naming the flag for anything else. */
export function parseSyslogTarget(target: string): SyslogTarget {
  if (target.startsWith('unix:')) {
    const path = target.slice(5);
    if (!path.startsWith('/') && !path.startsWith('.')) throw new ConfigError('--syslog-target', `bad unix socket path "${target}"`);
    return { kind: 'unix', path };
  }
  if (target.startsWith('/')) return { kind: 'unix', path: target };
  if (target.startsWith('udp://')) {
    const m = /^udp:\/\/(?:\[([0-9a-fA-F:.]+)\]|([^:/\s[\]]+)):(\d{1,5})\/?$/.exec(target);
    const port = m ? Number(m[3]) : 0;
    if (!m || port < 1 || port > 65535) throw new ConfigError('--syslog-target', `expected udp://host:port, got "${target}"`);
    return { kind: 'udp', host: m[1] ?? m[2]!, port };
  }
  throw new ConfigError('--syslog-target', `expected /path, unix:/path or udp://host:port, got "${target}"`);
}

/** How long a full local socket is retried before the target counts as down. */
const CONGESTION_GIVE_UP_MS = 2_000;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => (n < 10 ? '0' : '') + n;

/** RFC 3164 timestamp in local time: `Mmm dd hh:mm:ss`, day space-padded (`Nov  4 07:08:09`). */
export function syslogTimestamp(d: Date): string {
  const day = d.getDate();
  return `${MONTHS[d.getMonth()]} ${day < 10 ? ' ' : ''}${day} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/**
 * Makes attacker-influenced text safe for one syslog line with the shared rule ({@link escapeAttackerText}):
 * C0/DEL/C1 → `\xHH` (so CR/LF/NUL/ESC/CSI can never end the line, forge another or drive a terminal), line and
 * paragraph separators, bidi controls and other format characters → `\uHHHH`. Idempotent on already-escaped
 * text (the stored user agent).
 */
export function escapeSyslogField(s: string): string {
  return escapeAttackerText(s);
}

/**
 * Escapes a field that must stay one `\S+` word without commas (the method; the filter reads `Method: \S+`):
 * anything but printable ASCII, and `,`, becomes `\xHH` (UTF-8 bytes). A SIP method is a token, so this only
 * ever changes hostile values (e.g. from a peer).
 */
export function escapeSyslogWord(s: string): string {
  if (/^[!-+\--~]+$/.test(s)) return s; // fast path: printable ASCII without space or comma
  let out = '';
  for (const ch of s) {
    if (/^[!-+\--~]$/.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += '\\x' + b.toString(16).padStart(2, '0');
  }
  return out || 'NOT_FOUND';
}

/** The syslog format message text after `IDENT[PID]: `. */
export function syslogMessage(e: Pick<HoneypotEvent, 'sourceIp' | 'method' | 'userAgent'>): string {
  // source_ip is always an IP literal (capture, or §13.3-validated peers); escaped anyway as defence in depth.
  return `Source IP: ${escapeSyslogWord(e.sourceIp)}, Method: ${escapeSyslogWord(e.method)}, Agent: ${escapeSyslogField(e.userAgent)}`;
}

/**
 * One syslog datagram per `<13>Mmm dd hh:mm:ss IDENT[PID]: Source IP: …, Method: …, Agent: …\n` on a
 * local socket (no host name, as glibc's syslog(3) writes it); with `hostname` (udp://) the host name follows the
 * time and there is no trailing `\n`.
 */
export function formatSyslogLine(
  e: Pick<HoneypotEvent, 'sourceIp' | 'method' | 'userAgent'>,
  opts: { ident: string; pid: number; now: Date; hostname?: string },
): string {
  const head = `<13>${syslogTimestamp(opts.now)} ${opts.hostname ? opts.hostname + ' ' : ''}${opts.ident}[${opts.pid}]: `;
  return head + syslogMessage(e) + (opts.hostname ? '' : '\n');
}

/** unix-dgram reports `send -2`; name the errno (`ENOENT`) so the warning says what is wrong. */
function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number' && code < 0) {
    const name = Object.entries(osConstants.errno).find(([, v]) => v === -code)?.[0];
    if (name) return `${(err as { syscall?: string }).syscall ?? 'send'}: ${name}`;
  }
  return err.message;
}

/** Ident as written: printable ASCII without space, `[`, `]` or `:` (which would break the tag). */
function safeIdent(ident: string): string {
  const s = ident.replace(/[^\x21-\x7e]|[[\]:]/g, '_').slice(0, 48);
  return s || 'sipwarden';
}

/** Returned by a send that would block (full receive queue): retried shortly, never waited on synchronously. */
const CONGESTED = 'congested';

interface Transport {
  /** Sends one datagram synchronously (never blocks); returns an error, CONGESTED, or null. */
  send(buf: Buffer): Error | typeof CONGESTED | null;
  close(): void;
}

/**
 * Syslog sink. Messages are formatted from the bounded queue, never on the capture path.
 * Sending never blocks: a missing socket, a full receive buffer (EAGAIN) or any send error drops the message
 * and counts it (`sipwarden_sink_dropped_total{sink="syslog"}` + `…_errors_total`), warns once, and stops
 * trying for `retryMs` (10 s) before reconnecting. `reopen()` (SIGHUP) reconnects at once.
 */
export function createSyslogSink(init: SyslogSinkInit): Sink {
  const SINK = 'syslog';
  const target = parseSyslogTarget(init.target);
  const ident = safeIdent(init.ident);
  const pid = init.pid ?? process.pid;
  const retryMs = init.retryMs ?? 10_000;
  const hostname = target.kind === 'udp' ? (init.hostname ?? (osHostname().split('.')[0] || 'localhost')) : undefined;
  const logger = init.logger.child({ sink: SINK });
  const delivered = init.metrics.sinkDelivered.labels({ sink: SINK });
  const dropped = init.metrics.sinkDropped.labels({ sink: SINK });
  const errors = init.metrics.sinkErrors.labels({ sink: SINK });

  let transport: Transport | null = null;
  let connecting: Promise<void> | null = null;
  let downUntil = 0;
  let warned = false;
  let stopped = false;

  function fail(err: unknown, lost: number): void {
    dropped.inc(lost);
    errors.inc();
    downUntil = Date.now() + retryMs;
    if (transport) {
      try {
        transport.close();
      } catch {
        /* already closed */
      }
      transport = null;
    }
    if (!warned) {
      warned = true;
      const msg = describeError(err);
      logger.warn({ target: init.target, error: msg, retryMs }, 'syslog target unavailable; dropping messages and retrying');
      process.stderr.write(`sipwarden: warning: syslog ${init.target}: ${msg}; retrying every ${Math.round(retryMs / 1000)} s\n`);
    }
  }

  async function connect(): Promise<void> {
    if (target.kind === 'unix') {
      const sock: UnixDgramSocket = unixDgram.createSocket('unix_dgram');
      // Errors are returned synchronously through send callbacks; keep stray 'error' events from crashing us.
      sock.on('error', () => undefined);
      const path = target.path;
      transport = {
        send(buf) {
          let out: Error | typeof CONGESTED | null = null;
          // Unconnected sendto resolves the path on every message, so a restarted syslog daemon (new socket
          // inode) is picked up without reconnecting. The native callback runs synchronously.
          sock.send(buf, 0, buf.length, path, (err?: Error) => {
            if (!err) return;
            // sendto reports EAGAIN as a negative errno; unix-dgram marks a congested connected send() with code 1.
            const code = (err as { code?: unknown }).code;
            const busy = code === 1 || code === -osConstants.errno.EAGAIN || code === -osConstants.errno.ENOBUFS;
            out = busy ? CONGESTED : err;
          });
          return out;
        },
        close() {
          sock.close();
        },
      };
      return;
    }
    const host = isIP(target.host) ? target.host : (await lookup(target.host)).address;
    const sock = dgram.createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    sock.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.connect(target.port, host, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    sock.unref();
    let asyncErr: Error | null = null;
    transport = {
      send(buf) {
        if (asyncErr) {
          const e = asyncErr;
          asyncErr = null;
          return e;
        }
        // dgram send is asynchronous and never blocks; an ICMP port-unreachable surfaces on a later send.
        sock.send(buf, (err) => {
          if (err) asyncErr = err;
        });
        return null;
      },
      close() {
        sock.close();
      },
    };
  }

  async function ensureTransport(): Promise<boolean> {
    if (transport) return true;
    if (stopped || Date.now() < downUntil) return false;
    if (!connecting) {
      connecting = connect()
        .catch((err: unknown) => fail(err, 0))
        .finally(() => {
          connecting = null;
        });
    }
    await connecting;
    return transport !== null;
  }

  async function sendBatch(batch: HoneypotEvent[]): Promise<void> {
    if (!(await ensureTransport())) {
      dropped.inc(batch.length);
      return;
    }
    const now = new Date();
    for (let i = 0; i < batch.length; i++) {
      const t = transport;
      if (!t) {
        dropped.inc(batch.length - i);
        return;
      }
      const buf = Buffer.from(formatSyslogLine(batch[i]!, { ident, pid, now, hostname }), 'utf8');
      let err = t.send(buf);
      // A local datagram socket holds only net.unix.max_dgram_qlen (10) messages: bursts hit EAGAIN while the
      // daemon is alive and reading. Retry the same message after short sleeps (the queue keeps buffering and
      // drops on overflow); only a target stuck for CONGESTION_GIVE_UP_MS counts as down.
      let waited = 0;
      for (let delay = 1; err === CONGESTED && waited < CONGESTION_GIVE_UP_MS; delay = Math.min(delay * 2, 50)) {
        await new Promise((r) => setTimeout(r, delay));
        waited += delay;
        err = t === transport ? t.send(buf) : new SipwardenError(ERROR_CODES.SINK_DELIVERY_FAILED, 'syslog target reopened');
      }
      if (err === CONGESTED) err = new SipwardenError(ERROR_CODES.SINK_DELIVERY_FAILED, `syslog socket full (EAGAIN) for ${CONGESTION_GIVE_UP_MS} ms`);
      if (err) {
        fail(err, batch.length - i);
        return;
      }
      if (warned) {
        warned = false;
        logger.warn({ target: init.target }, 'syslog target reachable again');
      }
      delivered.inc();
    }
  }

  const queue = createSinkQueue<HoneypotEvent>({
    name: SINK,
    metrics: init.metrics,
    logger,
    sizeOf: estimateEventBytes,
    process: sendBatch,
  });

  return {
    name: SINK,
    async start() {
      stopped = false;
      await ensureTransport();
    },
    offer(event: HoneypotEvent) {
      queue.offer(event);
    },
    reopen() {
      if (transport) {
        try {
          transport.close();
        } catch {
          /* ignore */
        }
        transport = null;
      }
      downUntil = 0;
    },
    async stop() {
      await queue.stop();
      stopped = true;
      if (transport) {
        try {
          transport.close();
        } catch {
          /* ignore */
        }
        transport = null;
      }
    },
  };
}
