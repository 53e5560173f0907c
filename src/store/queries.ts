/**
 * Every read the API makes, as synchronous functions over a read-only better-sqlite3 connection. They run in the
 * reader worker, never on the capture thread. Lists read the aggregate tables; `honey`
 * is read only by events, per-IP/number details (bounded samples) and the hourly series.
 */
import Database from 'better-sqlite3';
import { cidrContains, createIpMatcher, parseCidr, type Cidr, type IpMatcher } from '../net/ip.js';
import { rfc3339 } from '../text/time.js';
import { networkInterfaces } from 'node:os';
import { DEFAULT_BLOCK_POLICY, Exclusions, interfaceAddresses, type BlockPolicy, type ExcludedLists } from '../enforce/policy.js';
import { checkAnswer, type CheckAnswer, type CheckQuery } from '../enforce/check.js';
import { BlockFactsReader } from './block-facts.js';
import { ConsoleReader, type ConsoleOverview } from './console.js';
import { decodeCursor, encodeCursor, type KeysetCursor } from './cursor.js';
import { QueryError } from './query-error.js';

/** A source filter: one normalised IP, or a CIDR (canonical text). */
export type SourceFilter = { ip: string } | { cidr: string };

/** How many of an IP's (or number's) newest events the per-row details are computed from. */
export const DETAIL_SAMPLE = 1000;

/** Filters of `/api/v1/events` (already validated by the route). */
export interface EventQuery {
  sinceUs?: number;
  untilUs?: number;
  source?: SourceFilter;
  /** Called-number prefix: `+?digits`. */
  number?: string;
  methods?: string[];
  transports?: string[];
  userAgent?: string;
  origin?: string;
  verified?: boolean;
  /** Source country (ISO alpha-2, upper case), from the writer's GeoIP lookup. */
  country?: string;
  /** Source autonomous system number. */
  asn?: number;
  order: 'asc' | 'desc';
  limit: number;
  cursor?: string;
  includeMessage?: boolean;
}

export interface IpQuery {
  sinceUs?: number;
  untilUs?: number;
  source?: SourceFilter;
  verified?: boolean;
  country?: string;
  asn?: number;
  minCount?: number;
  details: boolean;
  limit: number;
  cursor?: string;
}

export interface NumberQuery {
  sinceUs?: number;
  untilUs?: number;
  number?: string;
  country?: string;
  type?: string;
  minCount?: number;
  details: boolean;
  limit: number;
  cursor?: string;
}

export interface CredentialQuery {
  sinceUs?: number;
  untilUs?: number;
  source?: SourceFilter;
  username?: string;
  limit: number;
  cursor?: string;
}

export interface UserAgentQuery {
  q?: string;
  sinceUs?: number;
  limit: number;
  cursor?: string;
}

export interface BlocklistQuery {
  sinceUs?: number;
  minHits?: number;
  transports?: string[];
  verified?: boolean;
  family?: 4 | 6;
  country?: string;
  asn?: number;
  /** Seconds an entry stays blocked after its last sighting. */
  ttl: number;
}

/** A page of a v1 list. */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** One blocklist entry as the worker reads it. */
export interface BlockEntry {
  ip: string;
  firstSeenUs: number;
  lastSeenUs: number;
  count: number;
  verified: boolean;
  /** Seconds left until the entry expires (≥ 1). */
  ttl: number;
}

/** The key, last sighting (text as stored) and event count of one SentryPeer-style list item. */
export type CompatRow = [key: string, lastSeen: string | null, count: number];

/** Which SentryPeer-style list: `/ip-addresses`, `/numbers`, `/user-agents`, `/sip-methods`, `/countries`. */
export type CompatListKind = 'ip' | 'number' | 'ua' | 'method' | 'country';

/**
 * Rows read from one snapshot of the database: the row count (known before the first row) and the rows, pulled
 * one at a time so memory stays bounded whatever the count. The snapshot is released when the rows end, or by
 * `close()` (idempotent).
 */
export interface RowStream<T> {
  total: number;
  rows: Generator<T>;
  close(): void;
}

type Row = Record<string, unknown>;

/** Opens a read-only connection with the SQL helpers the queries use. */
export function openReadOnly(path: string, allow: IpMatcher, excluded?: (ip: string) => boolean): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new QueryError('unavailable', `store not available: ${(err as Error).message}`);
  }
  db.pragma('busy_timeout = 5000');
  const cidrs = new Map<string, Cidr | null>();
  // sw_cidr(ip, cidr): 1 when ip lies in cidr. Parsed CIDRs are cached per connection.
  db.function('sw_cidr', { deterministic: true }, (ip: unknown, cidr: unknown) => {
    if (typeof ip !== 'string' || typeof cidr !== 'string') return 0;
    let c = cidrs.get(cidr);
    if (c === undefined) {
      c = parseCidr(cidr);
      if (cidrs.size > 64) cidrs.clear();
      cidrs.set(cidr, c);
    }
    return c && cidrContains(c, ip) ? 1 : 0;
  });
  db.function('sw_allowed', { deterministic: true }, (ip: unknown) => (typeof ip === 'string' && allow.matches(ip) ? 1 : 0));
  // sw_excluded(ip): 1 for an address that is never exported (see enforce/policy.ts). Not deterministic: the
  // lists change (connected peers, own addresses).
  if (excluded) db.function('sw_excluded', (ip: unknown) => (typeof ip !== 'string' || excluded(ip) ? 1 : 0));
  return db;
}

/** The API's reads over one lookup connection; streams get their own connection (their own snapshot). */
export class Queries {
  private db: Database.Database | null = null;
  private readonly allow: IpMatcher;
  private readonly hasAllow: boolean;
  private readonly stmts = new Map<string, Database.Statement>();
  /** Never-exported addresses: loopback, link-local, own addresses, --allow, bootstrap, peers, webhook hosts. */
  readonly exclusions: Exclusions;
  private readonly isExcluded = (ip: string): boolean => this.exclusions.reason(ip) !== null;
  private facts: BlockFactsReader | null = null;
  private console: ConsoleReader | null = null;
  private readonly policy: BlockPolicy;

  /**
   * Blocklist exports (APIBAN, ipset, /api/v1/blocklist) leave out addresses seen only in unsigned OpenDHT values:
   * anyone can publish those, so they must not get an address blocked unless the operator trusts them.
   */
  private readonly trustedOnly: string;

  constructor(private readonly path: string, allow: readonly string[], policy?: BlockPolicy, opts: { trustOpendht?: boolean } = {}) {
    this.allow = createIpMatcher(allow);
    this.hasAllow = allow.length > 0;
    this.exclusions = new Exclusions({ allow, ownAddresses: () => interfaceAddresses(networkInterfaces()) });
    this.policy = policy ?? DEFAULT_BLOCK_POLICY;
    this.trustedOnly = opts.trustOpendht === true ? '' : 'event_count > opendht_count';
  }

  /** Replaces the changing never-exported lists. */
  setExcluded(lists: ExcludedLists): void {
    this.exclusions.setBootstrap(lists.bootstrap);
    this.exclusions.setPeers(lists.peers);
    this.exclusions.setWebhookHosts(lists.webhook);
  }

  private conn(): Database.Database {
    if (!this.db) this.db = openReadOnly(this.path, this.allow, this.isExcluded);
    return this.db;
  }

  /** `/api/v1/check`: the verdict on an address and/or a called number, from the aggregates only. */
  check(q: CheckQuery, nowUs: number): CheckAnswer {
    return this.guard(() => {
      this.facts ??= new BlockFactsReader(this.conn());
      return checkAnswer(q, this.facts, this.exclusions, this.policy, nowUs);
    });
  }

  private stmt(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.conn().prepare(sql);
      if (this.stmts.size > 256) this.stmts.clear();
      this.stmts.set(sql, s);
    }
    return s;
  }

  /** Runs `fn`, turning a missing table (database not migrated yet) or a closed store into 503. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof QueryError) throw err;
      const msg = (err as Error).message ?? String(err);
      if (/no such table|no such column|unable to open|database disk image|SQLITE_CANTOPEN/i.test(msg)) {
        this.reset();
        throw new QueryError('unavailable', 'store not available');
      }
      throw err;
    }
  }

  /** Drops the connection (next call reopens). */
  reset(): void {
    this.stmts.clear();
    this.facts = null;
    this.console = null;
    try {
      this.db?.close();
    } catch {
      /* already closed */
    }
    this.db = null;
  }

  // ---- compat lookups ----

  ipExists(ip: string): boolean {
    if (this.allow.matches(ip)) return false;
    return this.guard(() => this.stmt('SELECT 1 FROM ip_stats WHERE ip = ?').get(ip) !== undefined);
  }

  /** `/numbers/{n}`: raw match, or E.164 match against the candidates. */
  numberExists(raw: string, e164: readonly string[]): boolean {
    return this.guard(() => {
      if (this.stmt('SELECT 1 FROM number_stats WHERE called_number = ?').get(raw) !== undefined) return true;
      for (const c of e164) {
        if (this.stmt('SELECT 1 FROM number_stats WHERE called_number_e164 = ?').get(c) !== undefined) return true;
      }
      return false;
    });
  }

  userAgentExists(ua: string): boolean {
    return this.guard(() => this.stmt('SELECT 1 FROM user_agent_stats WHERE user_agent = ?').get(ua) !== undefined);
  }

  methodExists(m: string): boolean {
    return this.guard(() => this.stmt('SELECT 1 FROM method_stats WHERE method = ?').get(m) !== undefined);
  }

  /** `/countries/{cc}`: a source address from this country (ISO alpha-2, any case) was recorded. */
  countryExists(cc: string): boolean {
    const allowed = this.hasAllow ? ' AND NOT sw_allowed(ip)' : '';
    return this.guard(() => this.stmt(`SELECT 1 FROM ip_stats WHERE country = ?${allowed} LIMIT 1`).get(cc.toUpperCase()) !== undefined);
  }

  /** `/countries/{cc}/{city}`: a source address from this city of this country was recorded (exact city name). */
  cityExists(cc: string, city: string): boolean {
    const allowed = this.hasAllow ? ' AND NOT sw_allowed(ip)' : '';
    return this.guard(() => this.stmt(`SELECT 1 FROM ip_stats WHERE country = ? AND city = ?${allowed} LIMIT 1`).get(cc.toUpperCase(), city) !== undefined);
  }

  // ---- /api/v1 ----

  events(q: EventQuery): Page<Row> {
    return this.guard(() => {
      const where: string[] = [];
      const args: unknown[] = [];
      if (q.sinceUs !== undefined) (where.push('event_time_us >= ?'), args.push(q.sinceUs));
      if (q.untilUs !== undefined) (where.push('event_time_us < ?'), args.push(q.untilUs));
      addSource(where, args, 'source_ip', q.source);
      if (q.number !== undefined) addNumberPrefix(where, args, q.number);
      if (q.methods?.length) (where.push(`method IN (${q.methods.map(() => '?').join(',')})`), args.push(...q.methods));
      if (q.transports?.length) {
        where.push(`transport_type IN (${q.transports.map(() => '?').join(',')})`);
        args.push(...q.transports);
      }
      if (q.userAgent !== undefined) (where.push('instr(user_agent, ?) > 0'), args.push(q.userAgent));
      if (q.origin !== undefined) (where.push('origin = ?'), args.push(q.origin));
      if (q.verified !== undefined) where.push(q.verified ? 'source_verified = 1' : 'COALESCE(source_verified, 0) = 0');
      if (q.country !== undefined) (where.push('source_country = ?'), args.push(q.country));
      if (q.asn !== undefined) (where.push('source_asn = ?'), args.push(q.asn));
      if (this.hasAllow) where.push('NOT sw_allowed(source_ip)');
      const desc = q.order === 'desc';
      const tag = desc ? 'ev.d' : 'ev.a';
      if (q.cursor !== undefined) {
        const c = decodeCursor(tag, q.cursor);
        where.push(desc ? 'event_time_us <= ? AND (event_time_us < ? OR honey_id < ?)' : 'event_time_us >= ? AND (event_time_us > ? OR honey_id > ?)');
        args.push(c.t, c.t, c.id);
      }
      const dir = desc ? 'DESC' : 'ASC';
      const sql = `SELECT honey_id, event_uuid, event_timestamp, event_time_us, source_ip, source_port, destination_ip,
        destination_port, transport_type, method, request_uri_user, to_user, called_number, called_number_e164, user_agent,
        collected_method, created_by_node_id, origin, origin_peer_id, response_code, source_verified, source_country,
        source_city, source_asn, source_org${q.includeMessage ? ', sip_message' : ''}
        FROM honey ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
        ORDER BY event_time_us ${dir}, honey_id ${dir} LIMIT ?`;
      const rows = this.stmt(sql).all(...args, q.limit + 1) as Row[];
      const more = rows.length > q.limit;
      if (more) rows.length = q.limit;
      const items = rows.map((r) => eventJson(r, q.includeMessage === true));
      const last = rows[rows.length - 1];
      return {
        items,
        next_cursor: more && last ? encodeCursor(tag, { t: last.event_time_us as number, id: last.honey_id as number }) : null,
      };
    });
  }

  ipAddresses(q: IpQuery): Page<Row> {
    return this.guard(() => {
      const where: string[] = [];
      const args: unknown[] = [];
      if (q.sinceUs !== undefined) (where.push('last_seen_us >= ?'), args.push(q.sinceUs));
      if (q.untilUs !== undefined) (where.push('last_seen_us < ?'), args.push(q.untilUs));
      addSource(where, args, 'ip', q.source);
      if (q.verified !== undefined) where.push(q.verified ? 'verified = 1' : 'verified = 0');
      if (q.country !== undefined) (where.push('country = ?'), args.push(q.country));
      if (q.asn !== undefined) (where.push('asn = ?'), args.push(q.asn));
      if (q.minCount !== undefined) (where.push('event_count >= ?'), args.push(q.minCount));
      if (this.hasAllow) where.push('NOT sw_allowed(ip)');
      const rows = this.keysetPage('ip_stats', 'ip', where, args, q.limit, q.cursor, 'ip');
      const items = rows.rows.map((r) => {
        const o: Row = {
          ip: r.ip,
          first_seen: rfc3339(r.first_seen_us as number),
          last_seen: rfc3339(r.last_seen_us as number),
          count: r.event_count,
          verified: r.verified === 1,
          country: r.country ?? null,
          city: r.city ?? null,
          asn: r.asn ?? null,
          org: r.org ?? null,
        };
        if (q.details) Object.assign(o, this.ipDetails(r.ip as string, r.event_count as number));
        return o;
      });
      return { items, next_cursor: rows.next };
    });
  }

  /** Methods, transports, user agents and distinct numbers of an IP's newest {@link DETAIL_SAMPLE} events. */
  private ipDetails(ip: string, count: number): Row {
    const rows = this.stmt(
      'SELECT method, transport_type, called_number, user_agent FROM honey WHERE source_ip = ? ORDER BY honey_id DESC LIMIT ?',
    ).raw().all(ip, DETAIL_SAMPLE) as [string | null, string | null, string | null, string | null][];
    const methods = new Set<string>();
    const transports = new Set<string>();
    const numbers = new Set<string>();
    const uas = new Map<string, number>();
    for (const [m, t, n, ua] of rows) {
      if (m !== null) methods.add(m);
      if (t !== null) transports.add(t);
      if (n !== null) numbers.add(n);
      if (ua !== null) uas.set(ua, (uas.get(ua) ?? 0) + 1);
    }
    return {
      methods: [...methods].sort(),
      transports: [...transports].sort(),
      distinct_numbers: numbers.size,
      user_agents: [...uas.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 10).map(([u]) => u),
      details_sampled: count > rows.length,
    };
  }

  numbers(q: NumberQuery): Page<Row> {
    return this.guard(() => {
      const where: string[] = [];
      const args: unknown[] = [];
      if (q.sinceUs !== undefined) (where.push('last_seen_us >= ?'), args.push(q.sinceUs));
      if (q.untilUs !== undefined) (where.push('last_seen_us < ?'), args.push(q.untilUs));
      if (q.number !== undefined) {
        const digits = q.number.replace(/^\+/, '');
        where.push('(called_number GLOB ? OR called_number_e164 GLOB ?)');
        args.push(q.number + '*', '+' + digits + '*');
      }
      if (q.country !== undefined) (where.push('country = ?'), args.push(q.country));
      if (q.type !== undefined) (where.push('number_type = ?'), args.push(q.type));
      if (q.minCount !== undefined) (where.push('event_count >= ?'), args.push(q.minCount));
      const page = this.keysetPage('number_stats', 'called_number', where, args, q.limit, q.cursor, 'num');
      const items = page.rows.map((r) => {
        const o: Row = {
          called_number: r.called_number,
          called_number_e164: r.called_number_e164 ?? null,
          country: r.country ?? null,
          number_type: r.number_type ?? null,
          first_seen: rfc3339(r.first_seen_us as number),
          last_seen: rfc3339(r.last_seen_us as number),
          count: r.event_count,
        };
        if (q.details) {
          const d = this.stmt(
            'SELECT COUNT(DISTINCT source_ip) AS n, COUNT(*) AS c FROM (SELECT source_ip FROM honey WHERE called_number = ? ORDER BY honey_id DESC LIMIT ?)',
          ).get(r.called_number, DETAIL_SAMPLE) as { n: number; c: number };
          o.distinct_sources = d.n;
          o.details_sampled = (r.event_count as number) > d.c;
        }
        return o;
      });
      return { items, next_cursor: page.next };
    });
  }

  credentials(q: CredentialQuery): Page<Row> {
    return this.guard(() => {
      const where: string[] = [];
      const args: unknown[] = [];
      if (q.sinceUs !== undefined) (where.push('event_time_us >= ?'), args.push(q.sinceUs));
      if (q.untilUs !== undefined) (where.push('event_time_us < ?'), args.push(q.untilUs));
      addSource(where, args, 'source_ip', q.source);
      if (q.username !== undefined) (where.push('username = ?'), args.push(q.username));
      if (this.hasAllow) where.push('NOT sw_allowed(source_ip)');
      if (q.cursor !== undefined) (where.push('credential_id < ?'), args.push(decodeCursor('cred', q.cursor).id));
      const rows = this.stmt(`SELECT * FROM credentials ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
        ORDER BY credential_id DESC LIMIT ?`).all(...args, q.limit + 1) as Row[];
      const more = rows.length > q.limit;
      if (more) rows.length = q.limit;
      const items = rows.map((r) => ({
        id: r.credential_id,
        event_uuid: r.event_uuid,
        event_time: rfc3339(r.event_time_us as number),
        source_ip: r.source_ip,
        source_port: r.source_port ?? null,
        transport: r.transport_type ?? null,
        method: r.method ?? null,
        header: r.header ?? null,
        scheme: r.scheme ?? null,
        username: r.username ?? null,
        realm: r.realm ?? null,
        uri: r.uri ?? null,
        nonce: r.nonce ?? null,
        response: r.response ?? null,
        algorithm: r.algorithm ?? null,
        qop: r.qop ?? null,
        user_agent: r.user_agent ?? null,
        password: r.password ?? null,
        password_source: r.password_source ?? null,
        password_verified: r.password_verified === null || r.password_verified === undefined ? null : r.password_verified === 1,
      }));
      const last = rows[rows.length - 1];
      return { items, next_cursor: more && last ? encodeCursor('cred', { t: 0, id: last.credential_id as number }) : null };
    });
  }

  userAgents(q: UserAgentQuery): Page<Row> {
    return this.guard(() => {
      const where: string[] = [];
      const args: unknown[] = [];
      if (q.q !== undefined) (where.push('instr(user_agent, ?) > 0'), args.push(q.q));
      if (q.sinceUs !== undefined) (where.push('last_seen_us >= ?'), args.push(q.sinceUs));
      const page = this.keysetPage('user_agent_stats', 'user_agent', where, args, q.limit, q.cursor, 'ua');
      return {
        items: page.rows.map((r) => ({
          user_agent: r.user_agent,
          first_seen: rfc3339(r.first_seen_us as number),
          last_seen: rfc3339(r.last_seen_us as number),
          count: r.event_count,
        })),
        next_cursor: page.next,
      };
    });
  }

  methods(): Row[] {
    return this.guard(() =>
      (this.stmt('SELECT * FROM method_stats ORDER BY last_seen_us DESC, last_honey_id DESC').all() as Row[]).map((r) => ({
        method: r.method,
        first_seen: rfc3339(r.first_seen_us as number),
        last_seen: rfc3339(r.last_seen_us as number),
        count: r.event_count,
      })),
    );
  }

  /** `/api/v1/overview`: the dashboard's series and top lists, from the console aggregates only. */
  overview(nowUs: number, limit: number): ConsoleOverview {
    return this.guard(() => {
      this.console ??= new ConsoleReader(this.conn());
      const o = this.console.overview(nowUs, this.hasAllow ? limit * 2 : limit);
      // --allow sources are never listed (a peer may have reported one).
      if (this.hasAllow) o.top.sources = o.top.sources.filter((s) => !this.allow.matches(s.key)).slice(0, limit);
      return o;
    });
  }

  /** Totals and a per-hour event series over the last `hours` hours (zero-filled, oldest first). */
  stats(hours: number, nowUs: number): Row {
    return this.guard(() => {
      const one = (sql: string): number => Number((this.stmt(sql).get() as { n: number | null }).n ?? 0);
      const hourUs = 3_600_000_000;
      const endHour = Math.floor(nowUs / hourUs);
      const startHour = endHour - hours + 1;
      const series = this.stmt(
        `SELECT event_time_us / ${hourUs} AS h, COUNT(*) AS n, SUM(transport_type = 'UDP') AS udp, SUM(transport_type = 'TCP') AS tcp,
         SUM(transport_type = 'TLS') AS tls FROM honey WHERE event_time_us >= ? GROUP BY h`,
      ).all(startHour * hourUs) as { h: number; n: number; udp: number; tcp: number; tls: number }[];
      const byHour = new Map(series.map((s) => [s.h, s]));
      const out: Row[] = [];
      for (let h = startHour; h <= endHour; h++) {
        const s = byHour.get(h);
        out.push({ hour: rfc3339(h * hourUs), events: s?.n ?? 0, udp: s?.udp ?? 0, tcp: s?.tcp ?? 0, tls: s?.tls ?? 0 });
      }
      return {
        totals: {
          events: one('SELECT SUM(event_count) AS n FROM method_stats'),
          events_stored: one('SELECT COUNT(*) AS n FROM honey'),
          ip_addresses: one('SELECT COUNT(*) AS n FROM ip_stats'),
          verified_ip_addresses: one('SELECT COUNT(*) AS n FROM ip_stats WHERE verified = 1'),
          numbers: one('SELECT COUNT(*) AS n FROM number_stats'),
          user_agents: one('SELECT COUNT(*) AS n FROM user_agent_stats'),
          credentials: one('SELECT COUNT(*) AS n FROM credentials'),
        },
        methods: (this.stmt('SELECT method, event_count FROM method_stats ORDER BY event_count DESC, method').all() as Row[]).map(
          (r) => ({ method: r.method, count: r.event_count }),
        ),
        hours,
        series: out,
        generated_at: rfc3339(nowUs),
      };
    });
  }

  /**
   * APIBAN batch (issue 5 item 4): up to 250 addresses whose last sighting is after the position `after`
   * (`null`: the start of the TTL window), oldest first. IDs are digits: 16-digit µs time + row id.
   */
  apiban(after: string | null, windowStartUs: number, verified: boolean, batch = 250): { ips: string[]; id: string | null } {
    return this.guard(() => {
      let t = windowStartUs;
      let id = -1;
      if (after !== null) {
        const m = /^(\d{16})(\d{1,17})$/.exec(after);
        if (!m) throw new QueryError('invalid', 'invalid ID');
        t = Math.max(Number(m[1]), windowStartUs);
        id = Number(m[1]) >= windowStartUs ? Number(m[2]) : -1;
      }
      const where = ['last_seen_us >= ?', '(last_seen_us > ? OR last_honey_id > ?)'];
      if (verified) where.push('verified = 1');
      where.push('NOT sw_excluded(ip)');
      if (this.trustedOnly) where.push(this.trustedOnly);
      const rows = this.stmt(`SELECT ip, last_seen_us, last_honey_id FROM ip_stats WHERE ${where.join(' AND ')}
        ORDER BY last_seen_us ASC, last_honey_id ASC LIMIT ?`).raw().all(t, t, id, batch) as [string, number, number][];
      if (rows.length === 0) return { ips: [], id: null };
      const last = rows[rows.length - 1]!;
      return { ips: rows.map((r) => r[0]), id: String(last[1]).padStart(16, '0') + String(last[2]) };
    });
  }

  private keysetPage(
    table: string, key: string, where: string[], args: unknown[], limit: number, cursor: string | undefined, tag: string,
  ): { rows: Row[]; next: string | null } {
    if (cursor !== undefined) {
      const c = decodeCursor(tag, cursor);
      where.push('last_seen_us <= ? AND (last_seen_us < ? OR last_honey_id < ?)');
      args.push(c.t, c.t, c.id);
    }
    const rows = this.stmt(`SELECT * FROM ${table} ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
      ORDER BY last_seen_us DESC, last_honey_id DESC LIMIT ?`).all(...args, limit + 1) as Row[];
    void key;
    const more = rows.length > limit;
    if (more) rows.length = limit;
    const last = rows[rows.length - 1];
    const next = more && last ? encodeCursor(tag, { t: last.last_seen_us as number, id: last.last_honey_id as number } satisfies KeysetCursor) : null;
    return { rows, next };
  }

  // ---- streams (own connection, own snapshot) ----

  /**
   * The items of a SentryPeer list (`/ip-addresses`, `/numbers`, `/user-agents`, `/sip-methods`, `/countries`),
   * newest sighting first; total = number of items.
   */
  openCompatList(kind: CompatListKind): RowStream<CompatRow> {
    if (kind === 'country') return this.openCountryList();
    // `tiebreak: false` where last_honey_id is unique per key (one honey row has one IP and one number), so the
    // (last_seen_us, last_honey_id) index alone gives the order and no sort pass is needed.
    const spec = {
      ip: { tiebreak: false, table: 'ip_stats', col: 'ip', key: 'ip_address', total: 'ip_addresses_total', list: 'ip_addresses', where: this.hasAllow ? 'NOT sw_allowed(ip)' : '' },
      number: {
        tiebreak: false, table: 'number_stats', col: 'called_number', key: 'called_number', total: 'called_numbers_total', list: 'called_numbers',
        where: `((called_number <> '' AND called_number NOT GLOB '*[^0-9]*') OR (called_number GLOB '+[0-9]*' AND substr(called_number, 2) NOT GLOB '*[^0-9]*'))`,
      },
      ua: { tiebreak: true, table: 'user_agent_stats', col: 'user_agent', key: 'user_agent', total: 'user_agents_total', list: 'user_agents', where: '' },
      method: { tiebreak: true, table: 'method_stats', col: 'method', key: 'sip_method', total: 'sip_methods_total', list: 'sip_methods', where: '' },
    }[kind];
    return this.openSnapshot((db) => {
      const w = spec.where ? `WHERE ${spec.where}` : '';
      const total = Number((db.prepare(`SELECT COUNT(*) AS n FROM ${spec.table} ${w}`).get() as { n: number }).n);
      const rows = db.prepare(`SELECT ${spec.col}, last_seen, event_count FROM ${spec.table} ${w}
        ORDER BY last_seen_us DESC, last_honey_id DESC${spec.tiebreak ? ', ' + spec.col : ''}`).raw().iterate() as IterableIterator<[string, string | null, number]>;
      return { total, rows };
    });
  }

  /**
   * `/countries`: source countries from `ip_stats` (filled once per address by the writer's GeoIP lookup);
   * seen_count = events from the country's addresses, seen_last = the newest of them.
   */
  private openCountryList(): RowStream<CompatRow> {
    return this.openSnapshot((db) => {
      const w = `WHERE country IS NOT NULL${this.hasAllow ? ' AND NOT sw_allowed(ip)' : ''}`;
      // One MAX() aggregate: SQLite takes the bare last_seen from the row holding it.
      const rows = db.prepare(`SELECT country, last_seen, MAX(last_seen_us) AS lu, SUM(event_count) AS n FROM ip_stats ${w}
        GROUP BY country ORDER BY lu DESC, country`).raw().all() as [string, string | null, number, number][];
      function* items(): Generator<CompatRow> {
        for (const [k, last, , n] of rows) yield [k, last, n];
      }
      return { total: rows.length, rows: items() };
    });
  }

  /** `/ip-addresses/ipset`: the exportable addresses, IPv4 then IPv6, numeric order. */
  openIpset(family: 4 | 6 | null): RowStream<string> {
    return this.openSnapshot((db) => {
      const v4: number[] = [];
      const v6: [string, string][] = [];
      const sql = `SELECT ip FROM ip_stats${this.trustedOnly ? ` WHERE ${this.trustedOnly}` : ''}`;
      for (const [ip] of db.prepare(sql).raw().iterate() as IterableIterator<[string]>) {
        if (this.isExcluded(ip)) continue;
        if (ip.includes(':')) {
          if (family !== 4) {
            const c = parseCidr(ip);
            if (c) v6.push([Buffer.from(c.bytes).toString('hex'), ip]);
          }
        } else if (family !== 6) {
          const p = ip.split('.');
          if (p.length === 4) v4.push(((+p[0]! << 24) | (+p[1]! << 16) | (+p[2]! << 8) | +p[3]!) >>> 0);
        }
      }
      const a4 = Uint32Array.from(v4).sort();
      v4.length = 0;
      v6.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      function* ips(): Generator<string> {
        for (const n of a4) yield `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
        for (const [, ip] of v6) yield ip;
      }
      return { total: a4.length + v6.length, rows: ips() };
    });
  }

  /** `/api/v1/blocklist`: entries seen within the TTL window (and filters), newest first. */
  openBlocklist(q: BlocklistQuery, nowUs: number): RowStream<BlockEntry> {
    return this.openSnapshot((db) => {
      // Entries whose TTL has run out (last seen ttl seconds ago or earlier) are not exported.
      const where = ['last_seen_us > ?'];
      const args: unknown[] = [nowUs - q.ttl * 1_000_000];
      if (q.sinceUs !== undefined) (where.push('last_seen_us >= ?'), args.push(q.sinceUs));
      if (q.minHits !== undefined) (where.push('event_count >= ?'), args.push(q.minHits));
      if (q.verified) where.push('verified = 1');
      if (q.family === 4) where.push("instr(ip, ':') = 0");
      if (q.family === 6) where.push("instr(ip, ':') > 0");
      if (q.country !== undefined) (where.push('country = ?'), args.push(q.country));
      if (q.asn !== undefined) (where.push('asn = ?'), args.push(q.asn));
      if (q.transports?.length) {
        where.push(`EXISTS (SELECT 1 FROM honey h WHERE h.source_ip = ip_stats.ip AND h.transport_type IN (${q.transports.map(() => '?').join(',')}))`);
        args.push(...q.transports);
      }
      where.push('NOT sw_excluded(ip)');
      if (this.trustedOnly) where.push(this.trustedOnly);
      const w = where.join(' AND ');
      const total = Number((db.prepare(`SELECT COUNT(*) AS n FROM ip_stats WHERE ${w}`).get(...args) as { n: number }).n);
      const rows = db.prepare(`SELECT ip, first_seen_us, last_seen_us, event_count, verified FROM ip_stats WHERE ${w}
        ORDER BY last_seen_us DESC, last_honey_id DESC`).raw().iterate(...args) as IterableIterator<[string, number, number, number, number]>;
      const ttl = q.ttl;
      function* entries(): Generator<BlockEntry> {
        for (const [ip, f, l, n, v] of rows) {
          yield { ip, firstSeenUs: f, lastSeenUs: l, count: n, verified: v === 1, ttl: Math.max(1, Math.ceil(ttl - (nowUs - l) / 1_000_000)) };
        }
      }
      return { total, rows: entries() };
    });
  }

  /** Opens a dedicated connection in one read transaction, so the head and every chunk see one snapshot. */
  private openSnapshot<T>(build: (db: Database.Database) => { total: number; rows: Iterable<T> }): RowStream<T> {
    const db = openReadOnly(this.path, this.allow, this.isExcluded);
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      try {
        db.close();
      } catch {
        /* iterator still open: closing the db finalises it */
      }
    };
    try {
      db.exec('BEGIN');
      const { total, rows } = this.guard(() => build(db));
      const out = (function* (): Generator<T> {
        try {
          yield* rows;
        } finally {
          close();
        }
      })();
      return { total, rows: out, close: () => (out.return(undefined), close()) };
    } catch (err) {
      close();
      throw err;
    }
  }

  close(): void {
    this.reset();
  }
}

function addSource(where: string[], args: unknown[], col: string, s: SourceFilter | undefined): void {
  if (!s) return;
  if ('ip' in s) {
    where.push(`${col} = ?`);
    args.push(s.ip);
  } else {
    where.push(`sw_cidr(${col}, ?)`);
    args.push(s.cidr);
  }
}

/** Called-number prefix, raw (`called_number`) or E.164 (`called_number_e164`, `+` + the digits). */
function addNumberPrefix(where: string[], args: unknown[], n: string): void {
  const digits = n.replace(/^\+/, '');
  where.push('(called_number GLOB ? OR called_number_e164 GLOB ?)');
  args.push(n + '*', '+' + digits + '*');
}

function eventJson(r: Row, withMessage: boolean): Row {
  const o: Row = {
    id: r.honey_id,
    event_uuid: r.event_uuid,
    event_time: rfc3339(r.event_time_us as number | null),
    event_timestamp: r.event_timestamp ?? null,
    source_ip: r.source_ip,
    source_port: r.source_port ?? null,
    destination_ip: r.destination_ip ?? null,
    destination_port: r.destination_port ?? null,
    transport: r.transport_type ?? null,
    method: r.method ?? null,
    request_uri_user: r.request_uri_user ?? null,
    to_user: r.to_user ?? null,
    called_number: r.called_number ?? null,
    called_number_e164: r.called_number_e164 ?? null,
    user_agent: r.user_agent ?? null,
    collected_method: r.collected_method ?? null,
    created_by_node_id: r.created_by_node_id ?? null,
    origin: r.origin ?? null,
    origin_peer_id: r.origin_peer_id ?? null,
    response_code: r.response_code ?? null,
    source_verified: r.source_verified === 1,
    source_country: r.source_country ?? null,
    source_city: r.source_city ?? null,
    source_asn: r.source_asn ?? null,
    source_org: r.source_org ?? null,
  };
  if (withMessage) o.sip_message = r.sip_message ?? null;
  return o;
}
