/** Test helpers for the sinks: event factory, quiet metrics/logger, and a local HTTP receiver. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import dgram from 'node:dgram';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { newUuid, receiptTime, type HoneypotEvent } from '../../src/events/event.js';
import { createLogger, type Logger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';

export function makeEvent(over: Partial<HoneypotEvent> = {}): HoneypotEvent {
  const t = receiptTime();
  return {
    eventUuid: newUuid(),
    eventTimestamp: t.eventTimestamp,
    eventTimeUs: t.eventTimeUs,
    sourceIp: '203.0.113.7',
    sourcePort: 5099,
    destinationIp: '127.0.0.1',
    destinationPort: 5060,
    transport: 'UDP',
    method: 'OPTIONS',
    requestUriUser: '100',
    toUser: '100',
    calledNumber: '100',
    calledNumberE164: null,
    userAgent: 'sipsak 0.9.8.1',
    sipMessage: 'OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n',
    sipMessageRaw: null,
    collectedMethod: 'passive',
    createdByNodeId: '6f1c1f0e-8d0c-4c59-9a53-0d3f3e3e3e3e',
    origin: 'local',
    originPeerId: null,
    responseCode: null,
    auth: null,
    sourceVerified: false,
    sourceCountry: null,
    sourceCity: null,
    peerEnvelope: null,
    ...over,
  };
}

export function quietMetrics(): Metrics {
  return new Metrics({ processMetrics: false });
}

export function quietLogger(): Logger {
  return createLogger('silent');
}

/** Reads a labelled counter/gauge value from the registry. */
export async function metricValue(m: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const json = await m.registry.getMetricsAsJSON();
  const metric = json.find((x) => x.name === name);
  if (!metric) return 0;
  const v = (metric.values as Array<{ value: number; labels: Record<string, string | number> }>).find((x) =>
    Object.entries(labels).every(([k, val]) => String(x.labels[k]) === val),
  );
  return v?.value ?? 0;
}

export interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

/** A local HTTP receiver on 127.0.0.1:0 whose behaviour per request is set by `handler`. */
export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  handler: (req: IncomingMessage, body: string, res: ServerResponse) => void;
  close(): Promise<void>;
  /** Stop listening (connections refused) but remember the port; `listen()` again on it. */
  down(): Promise<void>;
  up(): Promise<void>;
}

export async function startReceiver(path = '/hook', port = 0): Promise<Receiver> {
  let server: Server;
  const r: Receiver = {
    url: '',
    port: 0,
    received: [],
    handler: (_req, _body, res) => {
      res.statusCode = 204;
      res.end();
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((res) => server.close(() => res()));
    },
    down: async () => {
      await r.close();
    },
    up: async () => {
      await listen(r.port);
    },
  };
  async function listen(p: number): Promise<void> {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        r.handler(req, body, res);
      });
    });
    server.keepAliveTimeout = 1000;
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(p, '127.0.0.1', () => res());
    });
    r.port = (server.address() as AddressInfo).port;
    r.url = `http://127.0.0.1:${r.port}${path}`;
  }
  await listen(port);
  return r;
}

// ---------------------------------------------------------------------------------------------------------
// rsyslog and fail2ban fixtures

export const DEPLOY_F2B = new URL('../../deploy/fail2ban/', import.meta.url).pathname;

/** A free UDP port on 127.0.0.1 (bound then released). */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

export interface Rsyslog {
  proc: ChildProcess;
  socket: string;
  file: string;
  udpPort: number | null;
  lines(): string[];
  stop(): Promise<void>;
}

/**
 * Runs `rsyslogd -n` in the foreground (optionally prefixed, e.g. `ip netns exec B`) with a private imuxsock
 * socket, optional imudp on 127.0.0.1, writing the traditional file format (toolchain.md appendix C).
 */
export async function startRsyslog(dir: string, opts: { udpPort?: number; prefix?: string[] } = {}): Promise<Rsyslog> {
  mkdirSync(join(dir, 'work'), { recursive: true });
  const socket = join(dir, 'log.sock');
  const file = join(dir, 'messages.log');
  const conf = join(dir, 'rsyslog.conf');
  const udp = opts.udpPort
    ? `module(load="imudp")\ninput(type="imudp" address="127.0.0.1" port="${opts.udpPort}")\n`
    : '';
  writeFileSync(
    conf,
    `global(workDirectory="${join(dir, 'work')}")\n` +
      `module(load="imuxsock" SysSock.Use="off")\n` +
      `input(type="imuxsock" Socket="${socket}" CreatePath="on" RateLimit.Interval="0")\n` +
      udp +
      `*.* action(type="omfile" file="${file}" template="RSYSLOG_TraditionalFileFormat")\n`,
  );
  const check = spawnSync('rsyslogd', ['-N1', '-f', conf], { encoding: 'utf8', timeout: 10_000 });
  if (check.status !== 0) throw new Error(`rsyslogd -N1 failed: ${check.stderr}`);
  const prefix = opts.prefix ?? [];
  const args = [...prefix, 'rsyslogd', '-n', '-f', conf, '-i', join(dir, 'rsyslog.pid')];
  const proc = spawn(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const t0 = Date.now();
  while (!existsSync(socket)) {
    if (proc.exitCode !== null) throw new Error(`rsyslogd exited: ${err}`);
    if (Date.now() - t0 > 10_000) {
      proc.kill('SIGKILL');
      throw new Error(`rsyslogd not ready: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    proc,
    socket,
    file,
    udpPort: opts.udpPort ?? null,
    lines: () => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await done;
      clearTimeout(t);
    },
  };
}

/** Copies the shipped filter plus fail2ban's common.conf into `<dir>/filter.d/`; returns the filter path. */
export function installFilter(dir: string): string {
  mkdirSync(join(dir, 'filter.d'), { recursive: true });
  copyFileSync('/etc/fail2ban/filter.d/common.conf', join(dir, 'filter.d', 'common.conf'));
  const f = join(dir, 'filter.d', 'sipwarden.conf');
  copyFileSync(join(DEPLOY_F2B, 'filter.d', 'sipwarden.conf'), f);
  return f;
}

/** `fail2ban-regex -o ip <log> <filter>`: the IPs the filter extracts, one per matched line, plus the summary. */
export function fail2banRegexIps(logFile: string, filter: string): { ips: string[]; summary: string } {
  const r = spawnSync('fail2ban-regex', ['-o', 'ip', logFile, filter], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`fail2ban-regex failed (${r.status}): ${r.stderr}`);
  const s = spawnSync('fail2ban-regex', ['--print-no-missed', logFile, filter], { encoding: 'utf8', timeout: 60_000 });
  return { ips: r.stdout.split('\n').map((l) => l.trim()).filter(Boolean), summary: s.stdout };
}
