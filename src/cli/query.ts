/**
 * `sipwarden query ips|numbers|events|credentials|check [options]`: reads a running node through its REST API with
 * the typed client (`sipwarden/client`) and prints an aligned table for people or JSON for scripts. The node is
 * the one `--api URL` names, else the one this configuration describes (first `--api-listen`), with the token of
 * `--api-token`, `--api-token-file`, SIPWARDEN_API_TOKEN or the config file's `api_token`, as `bgp-feed` does.
 */
import { homedir } from 'node:os';
import {
  ApiHttpError, ApiUnreachableError, SipwardenClient, type ItemOf, type PagedPath, type QueryOf, type ResponseOf,
} from '../client/index.js';
import { loadConfig } from '../config/load.js';
import { ConfigError, ERROR_CODES, SipwardenError } from '../errors.js';
import { apiUrlOf } from './bgp-feed.js';
import { getopt, type OptSpec } from '../config/getopt.js';

/** The subcommands and the list route each one reads. */
const SUBCOMMANDS = {
  ips: '/api/v1/ip-addresses',
  numbers: '/api/v1/numbers',
  events: '/api/v1/events',
  credentials: '/api/v1/credentials',
  check: '/api/v1/check',
} as const;
type Sub = keyof typeof SUBCOMMANDS;

/** Query filters: flag → API parameter, and the subcommands that take it. */
const FILTERS: { flag: string; param: string; arg: string; help: string; subs: Sub[] }[] = [
  { flag: 'since', param: 'since', arg: 'T', help: 'RFC 3339 time or an age: 30s, 15m, 2h, 7d', subs: ['ips', 'numbers', 'events', 'credentials'] },
  { flag: 'until', param: 'until', arg: 'T', help: 'RFC 3339 time or an age', subs: ['ips', 'numbers', 'events', 'credentials'] },
  { flag: 'source', param: 'source', arg: 'IP|CIDR', help: 'source address or network', subs: ['ips', 'events', 'credentials'] },
  { flag: 'number', param: 'number', arg: 'N', help: 'called-number prefix (check: the number)', subs: ['numbers', 'events', 'check'] },
  { flag: 'ip', param: 'ip', arg: 'IP', help: 'source address to check', subs: ['check'] },
  { flag: 'country', param: 'country', arg: 'CC', help: 'ISO 3166-1 alpha-2 country', subs: ['ips', 'numbers', 'events'] },
  { flag: 'asn', param: 'asn', arg: 'N', help: 'autonomous system number', subs: ['ips', 'events'] },
  { flag: 'type', param: 'type', arg: 'T', help: 'number type (mobile, premium_rate…)', subs: ['numbers'] },
  { flag: 'method', param: 'method', arg: 'M', help: 'SIP method(s), comma-separated', subs: ['events'] },
  { flag: 'transport', param: 'transport', arg: 'T', help: 'UDP, TCP, TLS (comma-separated)', subs: ['events'] },
  { flag: 'user-agent', param: 'user_agent', arg: 'S', help: 'user-agent substring', subs: ['events'] },
  { flag: 'origin', param: 'origin', arg: 'O', help: 'local, peer, opendht or legacy', subs: ['events'] },
  { flag: 'order', param: 'order', arg: 'asc|desc', help: 'event order (default desc)', subs: ['events'] },
  { flag: 'username', param: 'username', arg: 'U', help: 'exact username', subs: ['credentials'] },
  { flag: 'min-count', param: 'min_count', arg: 'N', help: 'at least this many events', subs: ['ips', 'numbers'] },
];
const SWITCH_FILTERS: { flag: string; param: string; help: string; subs: Sub[] }[] = [
  { flag: 'verified', param: 'verified', help: 'only proven sources (TCP/TLS or echoed tag)', subs: ['ips', 'events'] },
];

/** Flags handed to the settings loader (token and URL come from the same places as for the node). */
const PASS_THROUGH: OptSpec[] = [
  { id: 'pass:api-token', long: ['api-token'], takesValue: true },
  { id: 'pass:api-token-file', long: ['api-token-file'], takesValue: true },
  { id: 'pass:api-listen', long: ['api-listen'], takesValue: true },
  { id: 'pass:config', short: 'g', long: ['config', 'config-file'], takesValue: true },
];

const SPECS: OptSpec[] = [
  { id: 'help', short: 'h', long: ['help'], takesValue: false },
  { id: 'api', long: ['api'], takesValue: true },
  { id: 'json', long: ['json'], takesValue: false },
  { id: 'jsonl', long: ['jsonl'], takesValue: false },
  { id: 'limit', short: 'n', long: ['limit'], takesValue: true },
  { id: 'all', long: ['all'], takesValue: false },
  { id: 'show-passwords', long: ['show-passwords'], takesValue: false },
  ...FILTERS.map((f) => ({ id: `f:${f.flag}`, long: [f.flag], takesValue: true })),
  ...SWITCH_FILTERS.map((f) => ({ id: `s:${f.flag}`, long: [f.flag], takesValue: false })),
  ...PASS_THROUGH,
];

/** `sipwarden query --help`. */
export function queryHelp(): string {
  const rows: [string, string][] = [
    ['--api URL', 'the node\'s API (default: this configuration\'s first --api-listen)'],
    ['--api-token T', 'bearer token (also --api-token-file, SIPWARDEN_API_TOKEN, api_token in the config file)'],
    ['-g, --config FILE', 'the node\'s TOML configuration (API address and token)'],
    ['--json', 'the API\'s JSON answer (lists: one page of --limit rows, or every row with --all)'],
    ['--jsonl', 'one JSON row per line (follows the pages up to --limit, or every row with --all)'],
    ['-n, --limit N', 'rows to show (default 50; --json: up to 1000 in one page)'],
    ['--all', 'every row (follows every page)'],
    ['--show-passwords', 'credentials: print recovered passwords instead of ****'],
    ...FILTERS.map((f): [string, string] => [`--${f.flag} ${f.arg}`, `${f.help} (${f.subs.join(', ')})`]),
    ...SWITCH_FILTERS.map((f): [string, string] => [`--${f.flag}`, `${f.help} (${f.subs.join(', ')})`]),
  ];
  const w = Math.max(...rows.map(([a]) => a.length)) + 2;
  return [
    'Usage: sipwarden query ips|numbers|events|credentials|check [options]',
    '',
    'Reads a running node through its REST API (docs/CLIENT.md). Tables for people; --json/--jsonl for scripts.',
    '  ips          source addresses, most recently seen first',
    '  numbers      called numbers, most recently called first',
    '  events       captured events, newest first',
    '  credentials  captured digest credentials, newest first',
    '  check        call-check verdict for --ip and/or --number (or positional IP / +number)',
    '',
    'Options:',
    ...rows.map(([a, b]) => `  ${a.padEnd(w)}${b}`),
    '',
    'Exit codes: 0 answered; 1 the API answered with an error (SW_API_REQUEST_FAILED);',
    '2 bad option or the API is not reachable (SW_API_UNREACHABLE).',
    '',
  ].join('\n');
}

/** Parsed `query` command line. */
export interface QueryArgs {
  sub: Sub;
  api: string | null;
  output: 'table' | 'json' | 'jsonl';
  limit: number;
  all: boolean;
  showPasswords: boolean;
  /** API query parameters. */
  params: Record<string, string>;
  /** Arguments for the settings loader (token, config file, listeners). */
  settingsArgv: string[];
}

const AGE = /^(\d{1,9})(s|m|min|h|d|w)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `--since`/`--until`: an RFC 3339 time passes through; an age (`15m`) becomes now minus it. */
export function parseTimeArg(text: string, where: string, now = Date.now()): string {
  const m = AGE.exec(text.trim());
  if (m) return new Date(now - Number(m[1]) * UNIT_MS[m[2]!]!).toISOString();
  if (/^\d{4}-\d\d-\d\d$/.test(text) && !Number.isNaN(Date.parse(text))) return `${text}T00:00:00Z`;
  if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/i.test(text) && !Number.isNaN(Date.parse(text))) return text;
  throw new ConfigError(where, `invalid time ${JSON.stringify(text.slice(0, 64))} (expected RFC 3339, e.g. 2026-01-31T12:00:00Z, or an age like 15m, 2h, 7d)`);
}

/** Parses `argv` after `query`. Throws ConfigError (one line, exit 2) on anything wrong. */
export function parseQueryArgs(argv: readonly string[], now = Date.now()): QueryArgs | 'help' {
  const { opts, positionals } = getopt(argv, SPECS, new Set(['help']));
  if (opts.some((o) => o.id === 'help')) return 'help';
  const name = positionals[0];
  if (name === undefined) throw new ConfigError('query', 'expected ips, numbers, events, credentials or check (sipwarden query --help)');
  if (!(name in SUBCOMMANDS)) throw new ConfigError('query', `unknown subcommand ${JSON.stringify(name.slice(0, 64))} (expected ips, numbers, events, credentials or check)`);
  const sub = name as Sub;
  const params: Record<string, string> = {};
  const extra = positionals.slice(1);
  if (sub === 'check') {
    for (const p of extra) {
      if (/^\+?\d{1,32}$/.test(p)) params.number = p;
      else params.ip = p;
    }
  } else if (extra.length > 0) {
    throw new ConfigError(JSON.stringify(extra[0]!.slice(0, 64)), `unexpected argument after "query ${sub}"`);
  }
  let api: string | null = null;
  let json = false;
  let jsonl = false;
  let limit: number | null = null;
  let all = false;
  let showPasswords = false;
  const settingsArgv: string[] = [];
  for (const o of opts) {
    if (o.id === 'api') {
      const v = o.value ?? '';
      let u: URL | null = null;
      try {
        u = new URL(v);
      } catch {
        u = null;
      }
      if (u === null || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
        throw new ConfigError(o.where, `invalid URL ${JSON.stringify(v.slice(0, 80))} (expected http(s)://host:port)`);
      }
      api = v;
    } else if (o.id === 'json') json = true;
    else if (o.id === 'jsonl') jsonl = true;
    else if (o.id === 'all') all = true;
    else if (o.id === 'show-passwords') showPasswords = true;
    else if (o.id === 'limit') {
      const v = o.value ?? '';
      if (!/^\d{1,7}$/.test(v) || Number(v) < 1) throw new ConfigError(o.where, `expected a positive integer, got ${JSON.stringify(v.slice(0, 32))}`);
      limit = Number(v);
    } else if (o.id.startsWith('pass:')) {
      settingsArgv.push(`--${o.id.slice(5)}`, o.value ?? '');
    } else if (o.id.startsWith('f:') || o.id.startsWith('s:')) {
      const flag = o.id.slice(2);
      const f = o.id.startsWith('f:') ? FILTERS.find((x) => x.flag === flag)! : SWITCH_FILTERS.find((x) => x.flag === flag)!;
      if (!f.subs.includes(sub)) throw new ConfigError(o.where, `not a filter of "query ${sub}" (it filters ${f.subs.join(', ')})`);
      const v = o.value ?? 'true';
      params[f.param] = f.param === 'since' || f.param === 'until' ? parseTimeArg(v, o.where, now)
        : f.param === 'country' ? v.toUpperCase() : v;
    }
  }
  if (json && jsonl) throw new ConfigError('--jsonl', 'give --json or --jsonl, not both');
  if (sub === 'check' && params.ip === undefined && params.number === undefined) {
    throw new ConfigError('query check', 'give --ip, --number or both');
  }
  const output = json ? 'json' : jsonl ? 'jsonl' : 'table';
  if (output === 'json' && !all && limit !== null && limit > 1000) throw new ConfigError('--limit', '--json answers one page of at most 1000 rows; use --all or --jsonl for more');
  return { sub, api, output, limit: limit ?? (output === 'json' ? 100 : 50), all, showPasswords, params, settingsArgv };
}

// ---------------------------------------------------------------- formatting

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A cell as safe one-line text: control and bidi characters (attacker-supplied) shown as `\u….`, long text cut. */
export function cell(v: unknown, max = 40): string {
  if (v === null || v === undefined || v === '') return '-';
  const s = (Array.isArray(v) ? v.join(',') : String(v)).replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** "just now", "42 s ago", "3 min ago", "5 h ago", "2 d ago" (future times: "in …"). */
export function relativeTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return cell(iso);
  const d = now - t;
  const a = Math.abs(d);
  const text = a < 5000 ? null
    : a < 60_000 ? `${Math.floor(a / 1000)} s`
      : a < 3_600_000 ? `${Math.floor(a / 60_000)} min`
        : a < 172_800_000 ? `${Math.floor(a / 3_600_000)} h`
          : `${Math.floor(a / 86_400_000)} d`;
  if (text === null) return 'just now';
  return d >= 0 ? `${text} ago` : `in ${text}`;
}

/** Columns padded to their widest cell; numeric columns right-aligned. */
export function table(header: readonly string[], rows: readonly string[][], numeric: ReadonlySet<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const line = (r: readonly string[]): string =>
    r.map((c, i) => {
      const pad = widths[i]! - [...c].length;
      if (i === r.length - 1) return numeric.has(i) ? ' '.repeat(pad) + c : c;
      return numeric.has(i) ? ' '.repeat(pad) + c : c + ' '.repeat(pad);
    }).join('  ');
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

type Row = Record<string, unknown>;

function rowsFor(sub: Exclude<Sub, 'check'>, items: Row[], now: number, showPasswords: boolean): { header: string[]; rows: string[][]; numeric: Set<number> } {
  switch (sub) {
    case 'ips':
      return {
        header: ['IP', 'CC', 'ASN', 'EVENTS', 'VERIFIED', 'FIRST SEEN', 'LAST SEEN', 'METHODS', 'ORG'],
        numeric: new Set([2, 3]),
        rows: items.map((r) => [cell(r.ip, 45), cell(r.country), cell(r.asn), cell(r.count), r.verified ? 'yes' : 'no', relativeTime(r.first_seen as string, now), relativeTime(r.last_seen as string, now), cell(r.methods, 30), cell(r.org, 30)]),
      };
    case 'numbers':
      return {
        header: ['NUMBER', 'E.164', 'CC', 'TYPE', 'EVENTS', 'SOURCES', 'FIRST SEEN', 'LAST SEEN'],
        numeric: new Set([4, 5]),
        rows: items.map((r) => [cell(r.called_number), cell(r.called_number_e164), cell(r.country), cell(r.number_type), cell(r.count), cell(r.distinct_sources), relativeTime(r.first_seen as string, now), relativeTime(r.last_seen as string, now)]),
      };
    case 'events':
      return {
        header: ['TIME', 'SOURCE', 'CC', 'TRANSPORT', 'METHOD', 'NUMBER', 'USER AGENT'],
        numeric: new Set(),
        rows: items.map((r) => [relativeTime(r.event_time as string, now), cell(r.source_ip, 45), cell(r.source_country), cell(r.transport), cell(r.method, 16), cell(r.called_number ?? r.request_uri_user, 24), cell(r.user_agent, 40)]),
      };
    case 'credentials':
      return {
        header: ['TIME', 'SOURCE', 'USERNAME', 'REALM', 'ALGORITHM', 'PASSWORD', 'USER AGENT'],
        numeric: new Set(),
        rows: items.map((r) => [relativeTime(r.event_time as string, now), cell(r.source_ip, 45), cell(r.username, 24), cell(r.realm, 24), cell(r.algorithm), r.password === null || r.password === undefined ? '-' : showPasswords ? cell(r.password, 32) : '****', cell(r.user_agent, 40)]),
      };
  }
}

function checkText(answer: ResponseOf<'/api/v1/check'>, now: number): string {
  const rows: string[][] = [['verdict', answer.verdict], ['reasons', cell(answer.reasons, 200)]];
  if (answer.ip) {
    const i = answer.ip;
    rows.push(['ip', cell(i.address, 45)], ['  hits', `${i.hits} (${i.verified_hits} verified)`], ['  first seen', relativeTime(i.first_seen, now)],
      ['  last seen', relativeTime(i.last_seen, now)], ['  seen by peers', i.seen_by_peers ? 'yes' : 'no'], ['  excluded', cell(i.excluded)],
      ['  blocked until', i.blocked_until ? `${i.blocked_until} (${relativeTime(i.blocked_until, now)})` : '-']);
  }
  if (answer.number) {
    const n = answer.number;
    rows.push(['number', cell(n.number)], ['  e164', cell(n.e164)], ['  hits', String(n.hits)], ['  sources', `${n.distinct_sources} (${n.verified_sources} verified)`],
      ['  first seen', relativeTime(n.first_seen, now)], ['  last seen', relativeTime(n.last_seen, now)],
      ['  blocked until', n.blocked_until ? `${n.blocked_until} (${relativeTime(n.blocked_until, now)})` : '-']);
  }
  const w = Math.max(...rows.map(([k]) => k!.length)) + 2;
  return rows.map(([k, v]) => `${k!.padEnd(w)}${v}`).join('\n') + '\n';
}

// ---------------------------------------------------------------- running

/** Resolves the API URL and token the way `bgp-feed` does (flags, environment, config file). */
function connection(args: QueryArgs, env: NodeJS.ProcessEnv): { url: string; token: string | null } {
  const outcome = loadConfig(args.settingsArgv, env, process.cwd(), homedir());
  if (outcome.kind === 'help' || outcome.kind === 'version') throw new ConfigError('query', 'unexpected settings outcome');
  for (const w of outcome.warnings) process.stderr.write(`sipwarden: warning: ${w}\n`);
  return { url: args.api ?? apiUrlOf(outcome.config), token: outcome.config.apiTokens[0] ?? null };
}

/** Runs `sipwarden query …`; resolves the exit code. Output goes to `out` (stdout by default). */
export async function runQuery(
  argv: readonly string[],
  io: { out?: (s: string) => void; env?: NodeJS.ProcessEnv; now?: () => number; client?: SipwardenClient } = {},
): Promise<number> {
  const out = io.out ?? ((s: string) => void process.stdout.write(s));
  const parsed = parseQueryArgs(argv, io.now?.() ?? Date.now());
  if (parsed === 'help') {
    out(queryHelp());
    return 0;
  }
  const { url, token } = connection(parsed, io.env ?? process.env);
  const client = io.client ?? new SipwardenClient({
    baseUrl: url, token, maxRetries: 3, maxRetryDelayMs: 30_000,
    onRetry: ({ delayMs }) => void process.stderr.write(`sipwarden: rate limited by ${url}; retrying in ${Math.ceil(delayMs / 1000)} s\n`),
  });
  try {
    await execute(parsed, client, out, io.now ?? Date.now);
    return 0;
  } catch (err) {
    if (err instanceof ApiUnreachableError) {
      throw new SipwardenError(ERROR_CODES.API_UNREACHABLE, `${ERROR_CODES.API_UNREACHABLE}: cannot reach the API at ${url} (${err.reason})`, 2, { cause: err });
    }
    if (err instanceof ApiHttpError) {
      throw new SipwardenError(ERROR_CODES.API_REQUEST_FAILED, `${ERROR_CODES.API_REQUEST_FAILED}: ${url} answered ${err.message}`, 1, { cause: err });
    }
    throw err;
  }
}

async function execute(a: QueryArgs, client: SipwardenClient, out: (s: string) => void, now: () => number): Promise<void> {
  if (a.sub === 'check') {
    const answer = await client.get('/api/v1/check', a.params as QueryOf<'/api/v1/check'>);
    if (a.output === 'table') out(checkText(answer, now()));
    else out(JSON.stringify(answer) + '\n');
    return;
  }
  const path: PagedPath = SUBCOMMANDS[a.sub];
  if (a.output === 'json' && !a.all) {
    // One request, answered as the API answers it.
    out(await client.text(path, { ...a.params, limit: a.limit } as QueryOf<typeof path>) + '\n');
    return;
  }
  const want = a.all ? Infinity : a.limit;
  const pageSize = Math.min(1000, Number.isFinite(want) ? want : 1000);
  const rows: Row[] = [];
  let n = 0;
  for await (const item of client.items(path, { ...a.params, limit: pageSize } as QueryOf<typeof path>) as AsyncGenerator<ItemOf<PagedPath>>) {
    n++;
    if (a.output === 'jsonl') out(JSON.stringify(item) + '\n');
    else rows.push(item as Row);
    if (n >= want) break; // before the iterator asks for a page that would not be shown
  }
  if (a.output === 'json') {
    out(JSON.stringify({ [pageKey(a.sub)]: rows, next_cursor: null }) + '\n');
    return;
  }
  if (a.output === 'table') {
    if (rows.length === 0) {
      out('(no rows)\n');
      return;
    }
    const t = rowsFor(a.sub, rows, now(), a.showPasswords);
    out(table(t.header, t.rows, t.numeric));
  }
}

function pageKey(sub: Exclude<Sub, 'check'>): string {
  return { ips: 'ip_addresses', numbers: 'numbers', events: 'events', credentials: 'credentials' }[sub];
}
