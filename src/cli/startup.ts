/**
 * What the operator sees at start: checks that fail before anything listens (TLS material, explicitly set sinks,
 * the data directory), the start-up summary, and the `-v` line per probe. Lines go to stderr, as text
 * (`sipwarden: …`) or, with `--log-format json`, as one JSON object per line shaped like the operational log.
 */
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { basename, dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Config } from '../config/types.js';
import { ConfigError, ERROR_CODES, osCause, SipwardenError } from '../errors.js';
import type { HoneypotEvent } from '../events/event.js';
import { formatEndpoint, getLineFormat } from '../lifecycle.js';
import { escapeAttackerText } from '../log.js';
import { VERSION } from '../version.js';

/** How the data directory was chosen, for error lines. */
function dataDirFlag(config: Config): string {
  return config.sources.dataDir === undefined ? '--data-dir (default: the working directory)' : '--data-dir';
}

/** Creates the data directory (0750); an error names the flag, the path and the OS cause (exit 2). */
export function ensureDataDir(config: Config): void {
  try {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o750 });
    if (!statSync(config.dataDir).isDirectory()) throw Object.assign(new Error('ENOTDIR: not a directory'), { code: 'ENOTDIR' });
    accessSync(config.dataDir, constants.W_OK);
  } catch (err) {
    throw new ConfigError(dataDirFlag(config), `${config.dataDir}: ${osCause(err)}`);
  }
}

/**
 * Why sqlite could not open `path`, in OS terms (sqlite itself only says `unable to open database file`).
 * Probes by opening the file read-write (removing it again if the probe created it) and checking that the
 * directory is writable (sqlite needs it for the `-wal` and `-shm` files). Null when nothing is found.
 */
export function diagnoseDbPath(path: string): string | null {
  try {
    if (statSync(path).isDirectory()) return 'EISDIR: is a directory';
  } catch {
    /* missing: probed below */
  }
  const existed = existsSync(path);
  try {
    closeSync(openSync(path, constants.O_RDWR | constants.O_CREAT, 0o640));
    if (!existed) unlinkSync(path);
  } catch (err) {
    return osCause(err);
  }
  try {
    accessSync(dirname(path), constants.W_OK);
  } catch (err) {
    return `directory ${dirname(path)}: ${osCause(err)}`;
  }
  return null;
}

/** Adds the OS cause to a store-open error that lacks one. */
export function explainStoreError(err: SipwardenError, dbFile: string): SipwardenError {
  if (err.code !== ERROR_CODES.STORE_OPEN_FAILED) return err;
  const cause = diagnoseDbPath(dbFile);
  const msg = err.message.includes(dbFile) ? err.message : `database ${dbFile}: ${err.message}`;
  return cause ? new SipwardenError(err.code, `${msg} (${cause})`, err.exitCode, { cause: err }) : err;
}

/**
 * Reads and checks the operator's `-t/-k` pair before any listener opens: unreadable, non-PEM or mismatched
 * files are a configuration error (exit 2). Returns null when TLS is not used or no pair was given.
 */
export function checkTlsFiles(config: Config, read: (p: string) => Buffer): { cert: Buffer; key: Buffer } | null {
  if (config.sipDisable || !config.tls || config.tlsListen.length === 0 || config.cert === null || config.key === null) return null;
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = read(config.cert);
  } catch (err) {
    throw new ConfigError('--cert', `${config.cert}: ${osCause(err)}`);
  }
  try {
    key = read(config.key);
  } catch (err) {
    throw new ConfigError('--key', `${config.key}: ${osCause(err)}`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ConfigError('--cert/--key', `${config.cert} with ${config.key}: not a usable PEM certificate and key (${why})`);
  }
  return { cert, key };
}

/**
 * An explicitly configured sink must open at start: the JSON log file (`-j`/`-l`) is opened for appending and
 * closed again; an explicit `--syslog-target` must be a local datagram socket that accepts a connection, or a
 * `udp://` host that resolves. Failure: SINK_OPEN_FAILED, exit 2, naming the flag, the path and the cause.
 */
export async function checkSinks(config: Config): Promise<void> {
  if (config.jsonLog) {
    const flag = config.sources.jsonLogFile !== undefined ? '--json-log-file' : '--json-log';
    const file = config.jsonLogFile;
    try {
      let fd: number;
      try {
        fd = openSync(file, 'a', 0o640);
      } catch (err) {
        // A missing parent directory is created, as the JSON log itself does; any other cause is reported as is.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        mkdirSync(dirname(file), { recursive: true });
        fd = openSync(file, 'a', 0o640);
      }
      closeSync(fd);
    } catch (err) {
      throw new SipwardenError(ERROR_CODES.SINK_OPEN_FAILED, `${flag} ${file}: cannot open for appending: ${osCause(err)}`, 2, { cause: err });
    }
  }
  if (config.syslog && config.sources.syslogTarget !== undefined && config.sources.syslogTarget !== 'default') {
    const t = config.syslogTarget;
    const fail = (cause: string): never => {
      throw new SipwardenError(ERROR_CODES.SINK_OPEN_FAILED, `--syslog-target ${t}: cannot open: ${cause}`, 2);
    };
    if (t.startsWith('udp://')) {
      const host = /^udp:\/\/(?:\[([^\]]+)\]|([^:/]+)):/.exec(t);
      const name = host?.[1] ?? host?.[2] ?? '';
      if (!isIP(name)) {
        try {
          await lookup(name);
        } catch (err) {
          fail(`cannot resolve ${name}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
        }
      }
      return;
    }
    const path = t.startsWith('unix:') ? t.slice(5) : t;
    try {
      if (!statSync(path).isSocket()) fail(`${path} is not a socket`);
    } catch (err) {
      if (err instanceof SipwardenError) throw err;
      fail(osCause(err));
    }
    await probeUnixDgram(path).catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
  }
}

/** Connects a local datagram socket to `path` and closes it again (nothing is sent). */
async function probeUnixDgram(path: string): Promise<void> {
  const { default: unixDgram } = await import('unix-dgram');
  const sock = unixDgram.createSocket('unix_dgram');
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new SipwardenError(ERROR_CODES.SINK_OPEN_FAILED, 'no answer from the socket within 2 s')), 2000);
      sock.on('error', (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
      sock.on('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      sock.connect(path);
    });
  } finally {
    try {
      sock.close();
    } catch {
      /* already closed */
    }
  }
}

// ---------------------------------------------------------------- lines on stderr

/**
 * Writes one start-up line: text `sipwarden: <text>`, or a JSON object with `msg` and `fields` (keys never
 * repeat: fields cannot override `level`, `time`, `app`, `component` or `msg`).
 */
export function infoLine(text: string, msg: string, fields: Record<string, unknown>, component = 'startup'): void {
  if (getLineFormat() === 'json') {
    const obj: Record<string, unknown> = { level: 30, time: Date.now(), app: 'sipwarden', component, msg };
    for (const [k, v] of Object.entries(fields)) if (!(k in obj)) obj[k] = v;
    process.stderr.write(JSON.stringify(obj) + '\n');
  } else {
    process.stderr.write(`sipwarden: ${text}\n`);
  }
}

/** Start-up facts known once the store is open (node id) and before listeners open. */
export function summaryHead(config: Config, nodeId: string): void {
  infoLine(`sipwarden ${VERSION} starting, node id ${nodeId}, pid ${process.pid}`, 'starting', { version: VERSION, nodeId, pid: process.pid });
  if (config.configFile) {
    const why =
      config.configFileOrigin === 'sentrypeer-default'
        ? "SentryPeer's default path"
        : config.configFileOrigin === 'sipwarden-default'
          ? 'default path'
          : 'given';
    infoLine(`config ${config.configFile} (${why})`, 'config', { configFile: config.configFile, origin: config.configFileOrigin ?? 'explicit' });
  } else {
    infoLine('config none (defaults, environment and flags only)', 'config', { configFile: null });
  }
  infoLine(`data dir ${config.dataDir}`, 'data dir', { dataDir: config.dataDir });
  const backup = config.dbFileOrigin === 'sentrypeer-default' ? newestBackup(config.dbFile) : null;
  const dbNote =
    config.dbFileOrigin === 'sentrypeer-default'
      ? ` (SentryPeer's database: no sipwarden.db here, so this one is used, migrated in place${backup ? `, backup ${backup}` : ''})`
      : '';
  infoLine(`database ${config.dbFile}${dbNote}`, 'database', { dbFile: config.dbFile, origin: config.dbFileOrigin ?? 'explicit', backup });
  if (config.sipDisable) infoLine('sip off (-R)', 'profile', { profile: null, sip: false });
  else if (config.responsive) infoLine(`profile ${config.responsiveProfile} (responsive)`, 'profile', { profile: config.responsiveProfile, responsive: true });
  else infoLine('profile none (capture only; -r answers requests)', 'profile', { profile: null, responsive: false });
}

/** The newest `<db>.pre-sipwarden-*.bak` next to the database, or null. */
function newestBackup(dbFile: string): string | null {
  try {
    const prefix = `${basename(dbFile)}.pre-sipwarden-`;
    const found = readdirSync(dirname(dbFile)).filter((f) => f.startsWith(prefix) && f.endsWith('.bak')).sort();
    return found.length ? `${dirname(dbFile)}/${found[found.length - 1]}` : null;
  } catch {
    return null;
  }
}

/** Start-up facts known once every part started: API and P2P. */
export function summaryTail(config: Config, apiBound: readonly { ip: string; port: number }[]): void {
  if (config.api) {
    const tokens = config.apiTokens.length;
    const state = tokens > 0 ? `token set (${tokens})` : config.apiAllowAnonymous ? 'token unset, anonymous allowed' : 'token unset (loopback only)';
    for (const ep of apiBound.length ? apiBound : config.apiListen) {
      const url = `http://${formatEndpoint(ep)}/`;
      infoLine(`api ${url} ${state}`, 'api', { url, token: tokens > 0 ? 'set' : 'unset', anonymous: config.apiAllowAnonymous });
    }
  } else {
    infoLine('api off (-a serves it)', 'api', { url: null });
  }
  if (config.peerToPeer) {
    const peers = config.bootstrap.length;
    infoLine(`p2p libp2p, ${peers} bootstrap peer${peers === 1 ? '' : 's'}${peers ? ': ' + config.bootstrap.join(', ') : ''}`, 'p2p', {
      engine: 'libp2p',
      bootstrap: config.bootstrap,
    });
  } else {
    infoLine('p2p off (-p shares events with peers)', 'p2p', { engine: null });
  }
  infoLine('ready', 'ready', {});
}

/**
 * `-v`: one line per captured probe (time, transport, source, method, number, user agent). Attacker text is
 * escaped so a forged user agent cannot start a new line or send terminal sequences.
 */
export function probeLine(e: HoneypotEvent): void {
  const source = e.sourcePort === null ? e.sourceIp : formatEndpoint({ ip: e.sourceIp, port: e.sourcePort });
  const method = escapeAttackerText(e.method);
  const number = escapeAttackerText(e.calledNumber);
  const ua = escapeAttackerText(e.userAgent);
  infoLine(
    `probe ${e.eventTimestamp} ${e.transport} ${source} ${method || '-'} ${number || '-'} "${ua}"`,
    'probe',
    { eventTimestamp: e.eventTimestamp, transport: e.transport, sourceIp: e.sourceIp, sourcePort: e.sourcePort, method, calledNumber: number, userAgent: ua },
    'probe',
  );
}
