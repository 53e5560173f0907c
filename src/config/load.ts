/**
 * Builds the effective configuration: defaults < TOML file < environment < command line, then
 * cross-field validation. Pure apart from reading the TOML file and checking that named files exist:
 * nothing is bound, created or written, so `sipwarden config check` can share it.
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { displayFlag, getopt, type OptSpec } from './getopt.js';
import { helpText } from './help.js';
import { ConfigError, ERROR_CODES, SipwardenError } from '../errors.js';
import { formatEndpoint, type Endpoint } from '../lifecycle.js';
import { VERSION } from '../version.js';
import { isLoopback } from '../net/ip.js';
import { BadValue, DEFAULTS, SETTINGS, type SettingDef, type SettingKey } from './settings.js';
import type { Config, ConfigSource } from './types.js';

export type CliOutcome =
  | { kind: 'run'; config: Config; warnings: string[] }
  | { kind: 'check'; config: Config; warnings: string[] }
  | { kind: 'firewall'; action: 'status' | 'flush'; config: Config; warnings: string[] }
  | { kind: 'bgp-feed'; config: Config; warnings: string[] }
  | { kind: 'help'; text: string }
  | { kind: 'version'; text: string };

/** One explicitly given value and where it came from. */
interface Given {
  value: unknown;
  /** Flag as typed, variable name, or `file:line`. */
  where: string;
  source: ConfigSource;
}
type Layer = Map<SettingKey, Given>;

const RANK: Record<ConfigSource, number> = { default: 0, file: 1, env: 2, cli: 3 };
const BY_KEY = new Map(SETTINGS.map((s) => [s.key, s]));
const BY_TOML = new Map(SETTINGS.flatMap((s) => s.toml.map((k) => [k, s] as const)));
const CONFIG_ENV = ['SIPWARDEN_CONFIG', 'SIPWARDEN_CONFIG_FILE', 'SENTRYPEER_CONFIG_FILE'];
const FALSE_WORDS = new Set(['0', 'false', 'no', 'off']);

function runParser(def: SettingDef, raw: string, where: string, cwd: string): unknown {
  try {
    return def.parse ? def.parse(raw, cwd) : raw;
  } catch (err) {
    if (err instanceof BadValue) throw new ConfigError(where, err.message);
    throw err;
  }
}

// ---------------------------------------------------------------- command line

const SPECIAL: OptSpec[] = [
  { id: ':help', short: 'h', long: ['help'], takesValue: false },
  { id: ':version', short: 'V', long: ['version'], takesValue: false },
  { id: ':N', short: 'N', long: [], takesValue: false },
  { id: ':config', short: 'g', long: ['config', 'config-file'], takesValue: true },
  { id: ':no-tls', long: ['no-tls'], takesValue: false },
];
const OPT_SPECS: OptSpec[] = [
  ...SPECIAL,
  ...SETTINGS.filter((s) => s.key !== 'tls').map((s) => ({
    id: s.key,
    short: s.short,
    long: [s.long],
    takesValue: s.kind !== 'bool',
  })),
];

interface CliParse {
  layer: Layer;
  configFile: Given | null;
  check: boolean;
  /** `sipwarden firewall status|flush`. */
  firewall: 'status' | 'flush' | null;
  /** `sipwarden bgp-feed`. */
  bgpFeed: boolean;
  ignoredN: boolean;
}

function parseCli(argv: readonly string[], cwd: string): CliParse | { help: true } | { version: true } {
  const { opts, positionals, stoppedAt } = getopt(argv, OPT_SPECS, new Set([':help', ':version']));
  if (stoppedAt?.id === ':help') return { help: true };
  if (stoppedAt?.id === ':version') return { version: true };
  const layer: Layer = new Map();
  let configFile: Given | null = null;
  let ignoredN = false;
  for (const o of opts) {
    if (o.id === ':N') {
      ignoredN = true;
      continue;
    }
    if (o.id === ':no-tls') {
      layer.set('tls', { value: false, where: o.where, source: 'cli' });
      continue;
    }
    if (o.id === ':config') {
      const raw = o.value ?? '';
      if (raw === '') throw new ConfigError(o.where, 'must not be empty');
      configFile = { value: raw, where: o.where, source: 'cli' };
      continue;
    }
    const def = BY_KEY.get(o.id as SettingKey)!;
    if (def.kind === 'bool') {
      layer.set(def.key, { value: true, where: o.where, source: 'cli' });
    } else if (def.kind === 'list') {
      const item = runParser(def, o.value ?? '', o.where, cwd);
      const prev = layer.get(def.key);
      const list = prev ? [...(prev.value as unknown[]), item] : [item];
      layer.set(def.key, { value: list, where: o.where, source: 'cli' });
    } else {
      layer.set(def.key, { value: runParser(def, o.value ?? '', o.where, cwd), where: o.where, source: 'cli' });
    }
  }
  let check = false;
  let firewall: 'status' | 'flush' | null = null;
  let bgpFeed = false;
  if (positionals.length > 0) {
    if (positionals[0] === 'bgp-feed') {
      if (positionals.length !== 1) throw new ConfigError(JSON.stringify(positionals[1]!.slice(0, 64)), 'unexpected argument after "bgp-feed"');
      bgpFeed = true;
    } else if (positionals[0] === 'firewall') {
      if (positionals.length !== 2 || (positionals[1] !== 'status' && positionals[1] !== 'flush')) throw new ConfigError('firewall', 'expected "firewall status" or "firewall flush"');
      firewall = positionals[1];
    } else if (positionals[0] === 'config' && positionals[1] === 'check' && positionals.length === 2) check = true;
    else if (positionals[0] === 'config' && positionals.length === 1) throw new ConfigError('config', 'expected "config check"');
    else {
      const bad = positionals[0] === 'config' && positionals[1] === 'check' ? positionals[2]! : positionals[0] === 'config' ? positionals[1]! : positionals[0]!;
      throw new ConfigError(JSON.stringify(bad.length > 64 ? bad.slice(0, 64) + '…' : bad), 'unexpected argument');
    }
  }
  return { layer, configFile, check, firewall, bgpFeed, ignoredN };
}

// ---------------------------------------------------------------- environment

/** on for any value, even empty, except 0/false/no/off. */
export function envBool(raw: string): boolean {
  return !FALSE_WORDS.has(raw.trim().toLowerCase());
}

function parseEnv(env: NodeJS.ProcessEnv, cwd: string): Layer {
  const layer: Layer = new Map();
  for (const def of SETTINGS) {
    for (const name of def.env) {
      const raw = env[name];
      if (raw === undefined) continue;
      if (def.kind === 'bool') {
        layer.set(def.key, { value: envBool(raw), where: name, source: 'env' });
        break;
      }
      if (raw === '') continue; // an empty non-boolean is unset
      if (def.kind === 'list') {
        const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
        if (items.length === 0) continue;
        layer.set(def.key, { value: items.map((s) => runParser(def, s, name, cwd)), where: name, source: 'env' });
      } else {
        layer.set(def.key, { value: runParser(def, raw, name, cwd), where: name, source: 'env' });
      }
      break;
    }
  }
  // SP documents SENTRYPEER_TLS_DISABLE; it is the inverse of SIPWARDEN_TLS, which wins.
  const dis = env.SENTRYPEER_TLS_DISABLE;
  if (!layer.has('tls') && dis !== undefined) {
    layer.set('tls', { value: !envBool(dis), where: 'SENTRYPEER_TLS_DISABLE', source: 'env' });
  }
  return layer;
}

// ---------------------------------------------------------------- TOML file

/** Finds the 1-based line where a top-level key (or `[key]` table) is defined, or null. */
function keyLine(text: string, key: string): number | null {
  const esc = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^\\s*(?:(["']?)${esc}\\1\\s*=|\\[+\\s*(["']?)${esc}\\2\\s*[\\].])`);
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) if (re.test(lines[i]!)) return i + 1;
  return null;
}

function fileErrorReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'file not found';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'EACCES') return 'permission denied';
  return `cannot read file (${code ?? String(err)})`;
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v !== null && typeof v === 'object') return v instanceof Date ? 'date' : 'table';
  return typeof v;
}

/** A default config path that exists but cannot be read: skipped with this warning. */
class UnreadableDefault extends SipwardenError {
  constructor(message: string) {
    super(ERROR_CODES.CONFIG_INVALID, message, 2);
    this.name = 'UnreadableDefault';
  }
}

function parseTomlFile(file: string, label: string, explicit: boolean, cwd: string): Layer | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (!explicit && (err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (!explicit) throw new UnreadableDefault(`skipping default config ${label}: ${fileErrorReason(err)}`);
    throw new ConfigError(label, fileErrorReason(err));
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      const first = err.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
      throw new ConfigError(`${label}:${err.line}`, `invalid TOML: ${first}`);
    }
    throw new ConfigError(label, `invalid TOML: ${String(err)}`);
  }
  const layer: Layer = new Map();
  const whereOf = (key: string): string => {
    const line = keyLine(text, key);
    return line === null ? label : `${label}:${line}`;
  };
  for (const [key, value] of Object.entries(doc)) {
    const def = BY_TOML.get(key);
    const where = whereOf(key);
    if (!def) throw new ConfigError(where, `unknown key ${JSON.stringify(key)}`);
    const wrong = (expected: string): never => {
      throw new ConfigError(where, `${key}: expected ${expected}, got ${typeName(value)}`);
    };
    const parseIn = (raw: string): unknown => {
      try {
        return def.parse ? def.parse(raw, cwd) : raw;
      } catch (err) {
        if (err instanceof BadValue) throw new ConfigError(where, `${key}: ${err.message}`);
        throw err;
      }
    };
    let parsed: unknown;
    if (def.kind === 'bool') {
      if (typeof value !== 'boolean') wrong('a boolean');
      parsed = value;
    } else if (def.kind === 'list') {
      if (key === 'tls_listen_address') {
        // SP's key holds one address.
        if (typeof value !== 'string') wrong('a string');
        parsed = [parseIn(value as string)];
      } else {
        if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) wrong('an array of strings');
        parsed = (value as string[]).map(parseIn);
      }
    } else if (def.tomlScalar) {
      if (typeof value !== 'string' && typeof value !== 'boolean' && !(typeof value === 'number' && Number.isInteger(value))) wrong('a string, integer or boolean');
      parsed = parseIn(String(value));
    } else if (def.int) {
      if (typeof value !== 'number' || !Number.isInteger(value)) wrong('an integer');
      parsed = parseIn(String(value));
    } else {
      if (typeof value !== 'string') wrong('a string');
      parsed = parseIn(value as string);
    }
    const prev = layer.get(def.key);
    if (prev) throw new ConfigError(where, `${key}: duplicates ${prev.where}`);
    layer.set(def.key, { value: parsed, where, source: 'file' });
  }
  return layer;
}

/** Where a configuration file candidate comes from. */
type ConfigOrigin = NonNullable<Config['configFileOrigin']>;

interface ConfigCandidate {
  file: string;
  label: string;
  explicit: boolean;
  given: Given;
  origin: ConfigOrigin;
}

/**
 * `-g`, else the environment, else `$XDG_CONFIG_HOME/sipwarden/config.toml`, else `~/.config/…`.
 * After sipwarden's own default path comes SentryPeer's (its config library's path,
 * `$XDG_CONFIG_HOME/sentrypeer/default-config.toml`, else `~/.config/sentrypeer/default-config.toml`), so a
 * SentryPeer host keeps its settings. Returns the candidates in order; the first that exists is read.
 */
function locateConfig(cli: Given | null, env: NodeJS.ProcessEnv, cwd: string, homeDir: string): ConfigCandidate[] {
  if (cli) {
    const raw = cli.value as string;
    return [{ file: resolve(cwd, raw), label: displayFlag(raw), explicit: true, given: cli, origin: 'explicit' }];
  }
  for (const name of CONFIG_ENV) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    return [
      { file: resolve(cwd, raw), label: displayFlag(raw), explicit: true, given: { value: raw, where: name, source: 'env' }, origin: 'explicit' },
    ];
  }
  const xdg = env.XDG_CONFIG_HOME;
  let base: string | null = null;
  if (xdg && isAbsolute(xdg)) base = xdg;
  else if (homeDir) base = join(homeDir, '.config');
  if (!base) return [];
  const mk = (file: string, origin: ConfigOrigin): ConfigCandidate => ({
    file,
    label: displayFlag(file),
    explicit: false,
    given: { value: file, where: file, source: 'default' },
    origin,
  });
  return [mk(join(base, 'sipwarden', 'config.toml'), 'sipwarden-default'), mk(join(base, 'sentrypeer', 'default-config.toml'), 'sentrypeer-default')];
}

/** SentryPeer's database in the working directory (its default `-f`). */
export const SENTRYPEER_DB_NAME = 'sentrypeer.db';

// ---------------------------------------------------------------- merge and validate

function checkReadable(file: string, where: string): void {
  try {
    if (!statSync(file).isFile()) throw new ConfigError(where, `not a regular file: ${file}`);
    accessSync(file, constants.R_OK);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(where, `${fileErrorReason(err)}: ${file}`);
  }
}

/** Largest accepted API token file. */
const TOKEN_FILE_MAX_BYTES = 64 * 1024;

/**
 * `--api-token-file`: tokens one per line; surrounding spaces, blank lines and `#` comment lines are ignored.
 * A read error names the file and the OS cause; a bad line names file:line.
 */
function readTokenFile(file: string, where: string): string[] {
  let text: string;
  try {
    if (statSync(file).size > TOKEN_FILE_MAX_BYTES) throw new ConfigError(where, `${file}: larger than ${TOKEN_FILE_MAX_BYTES} bytes`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    // "ENOENT: no such file or directory, open '/x'" → "ENOENT: no such file or directory" (the path is given once).
    const cause = ((err as Error).message ?? String(err)).replace(/, \w+(?: '.*')?$/s, '');
    throw new ConfigError(where, `cannot read ${file}: ${cause}`);
  }
  const tokens: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i]!.trim();
    if (t === '' || t.startsWith('#')) continue;
    if (/[\s\x00-\x1f\x7f]/.test(t)) throw new ConfigError(`${file}:${i + 1}`, 'a token must not contain spaces or control characters');
    tokens.push(t);
  }
  if (tokens.length === 0) throw new ConfigError(where, `${file}: contains no token`);
  return tokens;
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}

/**
 * Parses the command line (argv WITHOUT node and script, i.e. `process.argv.slice(2)`), environment and TOML
 * file into a validated, deep-frozen Config. Throws ConfigError on any bad flag, value, key or file.
 */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv, cwd: string, homeDir: string): CliOutcome {
  const cliParse = parseCli(argv, cwd);
  if ('help' in cliParse) return { kind: 'help', text: helpText() };
  if ('version' in cliParse) return { kind: 'version', text: `sipwarden ${VERSION}\n` };
  const { layer: cli, check, firewall, bgpFeed, ignoredN } = cliParse;
  const envLayer = parseEnv(env, cwd);
  const warnings: string[] = [];
  let loc: ConfigCandidate | null = null;
  let fileLayer: Layer | null = null;
  for (const cand of locateConfig(cliParse.configFile, env, cwd, homeDir)) {
    try {
      fileLayer = parseTomlFile(cand.file, cand.label, cand.explicit, cwd);
    } catch (err) {
      if (!(err instanceof UnreadableDefault)) throw err;
      warnings.push(err.message);
      continue;
    }
    if (fileLayer || cand.explicit) {
      loc = cand;
      break;
    }
  }
  if (fileLayer && loc?.origin === 'sentrypeer-default') {
    // SentryPeer's config library writes `cert = "cert.pem"`, `key = "key.pem"` on first run whether or not those
    // files exist; a pair that is not there falls back to the data dir's self-signed certificate.
    const c = fileLayer.get('cert');
    const k = fileLayer.get('key');
    const missing = [c, k].filter((g): g is Given => g !== undefined && !existsSync(g.value as string));
    if (missing.length > 0) {
      fileLayer.delete('cert');
      fileLayer.delete('key');
      warnings.push(`${missing[0]!.where}: ${missing[0]!.value as string} not found; using the data directory's TLS certificate`);
    }
  }

  const given = new Map<SettingKey, Given>();
  for (const layer of [fileLayer, envLayer, cli]) {
    if (layer) for (const [k, g] of layer) given.set(k, g);
  }
  const get = <K extends SettingKey>(k: K, fallback: Config[K]): Config[K] =>
    (given.has(k) ? given.get(k)!.value : fallback) as Config[K];
  const whereOf = (k: SettingKey): string => given.get(k)?.where ?? `--${BY_KEY.get(k)!.long}`;

  const sources: Record<string, ConfigSource> = {};
  for (const [k, g] of given) sources[k] = g.source;

  // Data dir: --data-dir, else the directory of -f, else the working directory.
  const dbGiven = given.get('dbFile');
  let dataDir = cwd;
  if (given.has('dataDir')) dataDir = given.get('dataDir')!.value as string;
  else if (dbGiven && dbGiven.value !== ':memory:') {
    dataDir = dirname(dbGiven.value as string);
    sources.dataDir = dbGiven.source;
  }
  let dbFile = get('dbFile', join(dataDir, 'sipwarden.db'));
  let dbFileOrigin: Config['dbFileOrigin'] = given.has('dbFile') ? 'explicit' : 'sipwarden-default';
  // Drop-in: SentryPeer's default database is `./sentrypeer.db`. When sipwarden's own default is absent and the
  // data directory is the working directory (no -f, no --data-dir), keep using it (migrated in place, backed up).
  if (!given.has('dbFile') && !given.has('dataDir')) {
    const spDb = join(cwd, SENTRYPEER_DB_NAME);
    if (existsSync(spDb) && !existsSync(dbFile)) {
      dbFile = spDb;
      dbFileOrigin = 'sentrypeer-default';
    }
  }
  const jsonLogFile = get('jsonLogFile', join(dataDir, 'sipwarden_json.log'));
  // `-l` implies `-j`, unless -j was explicitly switched off at the same or a higher layer.
  let jsonLog = get('jsonLog', DEFAULTS.jsonLog);
  const lGiven = given.get('jsonLogFile');
  const jGiven = given.get('jsonLog');
  if (lGiven && !(jGiven && jGiven.value === false && RANK[jGiven.source] >= RANK[lGiven.source])) {
    if (!jsonLog) sources.jsonLog = lGiven.source;
    jsonLog = true;
  }

  const base = { ...DEFAULTS } as Record<string, unknown>;
  for (const [k, g] of given) base[k] = g.value;
  const config = {
    ...base,
    dataDir,
    dbFile,
    jsonLogFile,
    jsonLog,
    configFile: loc ? loc.file : null,
    configFileOrigin: loc ? loc.origin : null,
    dbFileOrigin,
    sources,
  } as Config;
  if (loc) sources.configFile = loc.given.source;

  if (config.apiTokenFile !== null) {
    config.apiTokens = [...config.apiTokens, ...readTokenFile(config.apiTokenFile, whereOf('apiTokenFile'))];
  }
  validate(config, given, whereOf);
  if (!given.has('opendhtBootstrap') && config.p2pEngine !== 'libp2p') {
    // SentryPeer's -b names its OpenDHT bootstrap node; without one it uses its public bootstrap host.
    const hosts = config.bootstrap.filter((b) => !b.startsWith('/'));
    config.opendhtBootstrap = hosts.length > 0 ? hosts : [SENTRYPEER_BOOTSTRAP];
  }
  if (ignoredN) warnings.push('-N is ignored');
  if (config.bootstrap.length > 0 && !config.peerToPeer) warnings.push(`${whereOf('bootstrap')} has no effect without -p`);
  for (const k of ['p2pEngine', 'opendhtBootstrap', 'trustOpendht'] as const) {
    if (given.has(k) && !config.peerToPeer) warnings.push(`${whereOf(k)} has no effect without -p`);
  }
  if (config.responsive && config.sipDisable) warnings.push(`${whereOf('responsive')} has no effect with ${whereOf('sipDisable')}`);

  deepFreeze(config);
  if (firewall !== null) return { kind: 'firewall', action: firewall, config, warnings };
  if (bgpFeed) return { kind: 'bgp-feed', config, warnings };
  return { kind: check ? 'check' : 'run', config, warnings };
}

/** SentryPeer's public OpenDHT bootstrap host (its `-b` default). */
export const SENTRYPEER_BOOTSTRAP = 'bootstrap.sentrypeer.org';

function validate(c: Config, given: Map<SettingKey, Given>, whereOf: (k: SettingKey) => string): void {
  if (c.p2pEngine === 'libp2p') {
    // An operator coming from SentryPeer passes its OpenDHT bootstrap host: libp2p would dial it and join nothing.
    const dht = c.bootstrap.find((b) => /(^|\.)sentrypeer\.org(:\d+)?$/i.test(b));
    if (dht !== undefined) {
      throw new ConfigError(whereOf('bootstrap'), `${JSON.stringify(dht)} is an OpenDHT node of SentryPeer's network, not a libp2p peer: add --p2p-engine opendht (or both) to join that network`);
    }
  } else if (c.p2pEngine === 'opendht') {
    const multiaddr = c.bootstrap.find((b) => b.startsWith('/'));
    if (multiaddr !== undefined) {
      throw new ConfigError(whereOf('bootstrap'), `${JSON.stringify(multiaddr)} is a libp2p multiaddr, but --p2p-engine is opendht (host[:port] expected); use --p2p-engine both to join both networks`);
    }
  }
  if (!c.tls) {
    for (const k of ['cert', 'key', 'tlsListen'] as const) {
      if (given.has(k)) throw new ConfigError(whereOf('tls'), `conflicts with ${whereOf(k)}`);
    }
  }
  if (c.oauth2ClientId !== null && c.oauth2ClientSecret === null) {
    throw new ConfigError(whereOf('oauth2ClientId'), 'requires -c (--oauth2-client-secret)');
  }
  if (c.oauth2ClientSecret !== null && c.oauth2ClientId === null) {
    throw new ConfigError(whereOf('oauth2ClientSecret'), 'requires -i (--oauth2-client-id)');
  }
  if (c.cert !== null && c.key === null) throw new ConfigError(whereOf('cert'), 'requires -k (--key)');
  if (c.key !== null && c.cert === null) throw new ConfigError(whereOf('key'), 'requires -t (--cert)');
  if (c.cert !== null) checkReadable(c.cert, whereOf('cert'));
  if (c.key !== null) checkReadable(c.key, whereOf('key'));
  if (c.p2pNetworkKey !== null) checkReadable(c.p2pNetworkKey, whereOf('p2pNetworkKey'));
  if (c.responsiveProfile === 'redirect' && c.redirectUri === null) {
    throw new ConfigError(whereOf('responsiveProfile'), 'profile "redirect" requires --redirect-uri');
  }
  if (c.apiTokens.length === 0 && !c.apiAllowAnonymous) {
    const open = c.apiListen.find((e: Endpoint) => !isLoopback(e.ip));
    if (open) {
      throw new ConfigError(
        whereOf('apiListen'),
        `non-loopback address ${formatEndpoint(open)} requires --api-token or --api-allow-anonymous`,
      );
    }
  }
}

// ---------------------------------------------------------------- config check

function formatValue(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(', ')}]`;
  if (typeof v === 'object' && 'ip' in v && 'port' in v) return JSON.stringify(formatEndpoint(v as Endpoint));
  return JSON.stringify(v);
}

/**
 * The effective configuration as TOML that `-g` reads back: one line per setting, sorted by key, keys as in the
 * TOML file, each followed by `# default|file|env|cli`. Lines that must not be read back are commented out:
 * unset values (`# cert = (unset) # default`), secrets (`# api_token = "<redacted>" # cli`: the file never carries
 * a placeholder as a secret), TLS listeners while TLS is off, and `config` (the file the values came from).
 * Ends with a newline.
 */
export function formatConfigCheck(config: Config): string {
  const lines: { key: string; text: string }[] = [];
  const add = (name: string, key: string, value: unknown, secret = false, off = false): void => {
    const source = config.sources[key] ?? 'default';
    const empty = value === null || value === undefined || (Array.isArray(value) && value.length === 0);
    let text: string;
    if (value === null || value === undefined) text = `# ${name} = (unset) # ${source}`;
    else if (secret && !empty) text = `# ${name} = "<redacted>" # ${source}`;
    else if (off) text = `# ${name} = ${formatValue(value)} # ${source} (TLS is off)`;
    else text = `${name} = ${formatValue(value)} # ${source}`;
    lines.push({ key: name, text });
  };
  for (const def of SETTINGS) add(def.toml[0]!, def.key, config[def.key], def.secret, def.key === 'tlsListen' && !config.tls);
  const file = config.configFile ? formatValue(config.configFile) : '(none)';
  lines.push({ key: 'config', text: `# config = ${file} # ${config.sources.configFile ?? 'default'}` });
  lines.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return lines.map((l) => l.text).join('\n') + '\n';
}
