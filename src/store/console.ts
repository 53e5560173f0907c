/**
 * The dashboard's aggregates (issue 16 part 2): events per minute and, per kind of key (source address, called
 * number, user agent, method, country, ASN), an all-time total and hourly counts of the last two days. The batch
 * writer keeps them in the same transaction as the rows, so the overview is answered from a few hundred small rows,
 * never from a scan of `honey`, whatever the row count.
 */
import type Database from 'better-sqlite3';
import type { HoneypotEvent } from '../events/event.js';

/** The key kinds the overview ranks. */
export const CONSOLE_KINDS = ['ip', 'number', 'ua', 'method', 'country', 'asn'] as const;
/** One of {@link CONSOLE_KINDS}. */
export type ConsoleKind = (typeof CONSOLE_KINDS)[number];

const MINUTE_US = 60_000_000;
const HOUR_US = 3_600_000_000;
/** Minutes kept: 7 days and one hour, enough for the hourly chart's first (partial) hour. */
const MINUTES_KEPT = 7 * 24 * 60 + 60;
/** Hourly key counts kept: two days and one hour (the trend compares the last 24 h with the 24 h before). */
const KEY_HOURS_KEPT = 49;

/** Migration SQL: the tables, filled once from the rows already stored (recent windows only). */
export const CONSOLE_MIGRATION_SQL = `
CREATE TABLE IF NOT EXISTS console_minutes (minute INTEGER PRIMARY KEY, events INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS console_key_totals (kind TEXT NOT NULL, key TEXT NOT NULL, label TEXT,
  events INTEGER NOT NULL, last_us INTEGER NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS console_key_totals_top ON console_key_totals (kind, events DESC);
CREATE TABLE IF NOT EXISTS console_key_hours (kind TEXT NOT NULL, key TEXT NOT NULL, hour INTEGER NOT NULL,
  events INTEGER NOT NULL, PRIMARY KEY (kind, key, hour)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS console_key_hours_hour ON console_key_hours (hour);
INSERT INTO console_minutes (minute, events)
  SELECT event_time_us / ${MINUTE_US}, COUNT(*) FROM honey
  WHERE event_time_us >= (CAST(strftime('%s', 'now') AS INTEGER) - ${MINUTES_KEPT * 60}) * 1000000 GROUP BY 1;
${backfillTotals('ip', 'source_ip')}
${backfillTotals('number', 'called_number')}
${backfillTotals('ua', 'user_agent')}
${backfillTotals('method', 'method')}
${backfillTotals('country', 'source_country')}
INSERT INTO console_key_totals (kind, key, label, events, last_us)
  SELECT 'asn', CAST(source_asn AS TEXT), MAX(source_org), COUNT(*), MAX(COALESCE(event_time_us, 0)) FROM honey
  WHERE source_asn IS NOT NULL GROUP BY source_asn;
${backfillHours('ip', 'source_ip')}
${backfillHours('number', 'called_number')}
${backfillHours('ua', 'user_agent')}
${backfillHours('method', 'method')}
${backfillHours('country', 'source_country')}
${backfillHours('asn', 'CAST(source_asn AS TEXT)')}
`;

function backfillTotals(kind: ConsoleKind, col: string): string {
  return `INSERT INTO console_key_totals (kind, key, label, events, last_us)
  SELECT '${kind}', ${col}, NULL, COUNT(*), MAX(COALESCE(event_time_us, 0)) FROM honey WHERE ${col} IS NOT NULL GROUP BY ${col};`;
}

function backfillHours(kind: ConsoleKind, col: string): string {
  return `INSERT INTO console_key_hours (kind, key, hour, events)
  SELECT '${kind}', ${col}, event_time_us / ${HOUR_US}, COUNT(*) FROM honey
  WHERE ${col} IS NOT NULL AND event_time_us >= (CAST(strftime('%s', 'now') AS INTEGER) - ${KEY_HOURS_KEPT * 3600}) * 1000000
  GROUP BY 1, 2, 3;`;
}

/** The keys one event is counted under, with an optional label (the ASN's organisation). */
function keysOf(e: HoneypotEvent): [ConsoleKind, string, string | null][] {
  const out: [ConsoleKind, string, string | null][] = [['ip', e.sourceIp, null], ['number', e.calledNumber, null], ['ua', e.userAgent, null], ['method', e.method, null]];
  if (e.sourceCountry) out.push(['country', e.sourceCountry, null]);
  if (e.sourceAsn !== null && e.sourceAsn !== undefined) out.push(['asn', String(e.sourceAsn), e.sourceOrg ?? null]);
  return out;
}

/** Writer side: folds one batch into the aggregates. Runs inside the batch transaction. */
export class ConsoleWriter {
  private readonly upMinute: Database.Statement;
  private readonly upTotal: Database.Statement;
  private readonly upHour: Database.Statement;
  private readonly pruneMinutes: Database.Statement;
  private readonly pruneHours: Database.Statement;
  /** Hour (since the epoch) of the last prune; old rows go once per hour. */
  private prunedHour = 0;

  constructor(db: Database.Database) {
    this.upMinute = db.prepare('INSERT INTO console_minutes (minute, events) VALUES (?, ?) ON CONFLICT (minute) DO UPDATE SET events = events + excluded.events');
    this.upTotal = db.prepare(`INSERT INTO console_key_totals (kind, key, label, events, last_us) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (kind, key) DO UPDATE SET events = events + excluded.events, last_us = MAX(last_us, excluded.last_us),
      label = COALESCE(excluded.label, label)`);
    this.upHour = db.prepare(`INSERT INTO console_key_hours (kind, key, hour, events) VALUES (?, ?, ?, ?)
      ON CONFLICT (kind, key, hour) DO UPDATE SET events = events + excluded.events`);
    this.pruneMinutes = db.prepare('DELETE FROM console_minutes WHERE minute < ?');
    this.pruneHours = db.prepare('DELETE FROM console_key_hours WHERE hour < ?');
  }

  /** Counts `events` (the batch's stored rows). `nowUs` decides what is old enough to prune. */
  write(events: readonly HoneypotEvent[], nowUs: number): void {
    const minutes = new Map<number, number>();
    const totals = new Map<string, { kind: ConsoleKind; key: string; label: string | null; events: number; lastUs: number }>();
    const hours = new Map<string, { kind: ConsoleKind; key: string; hour: number; events: number }>();
    const oldestHour = Math.floor(nowUs / HOUR_US) - KEY_HOURS_KEPT;
    for (const e of events) {
      const t = e.eventTimeUs;
      const m = Math.floor(t / MINUTE_US);
      minutes.set(m, (minutes.get(m) ?? 0) + 1);
      const h = Math.floor(t / HOUR_US);
      for (const [kind, key, label] of keysOf(e)) {
        const tk = `${kind}\u0000${key}`;
        const a = totals.get(tk);
        if (a === undefined) totals.set(tk, { kind, key, label, events: 1, lastUs: t });
        else {
          a.events++;
          if (t > a.lastUs) a.lastUs = t;
          if (label !== null) a.label = label;
        }
        if (h < oldestHour) continue; // an old event (peer catch-up) adds to the total, not to the trend
        const hk = `${tk}\u0000${h}`;
        const b = hours.get(hk);
        if (b === undefined) hours.set(hk, { kind, key, hour: h, events: 1 });
        else b.events++;
      }
    }
    for (const [m, n] of minutes) this.upMinute.run(m, n);
    for (const a of totals.values()) this.upTotal.run(a.kind, a.key, a.label, a.events, a.lastUs);
    for (const b of hours.values()) this.upHour.run(b.kind, b.key, b.hour, b.events);
    const hourNow = Math.floor(nowUs / HOUR_US);
    if (hourNow !== this.prunedHour) {
      this.prunedHour = hourNow;
      this.pruneMinutes.run(Math.floor(nowUs / MINUTE_US) - MINUTES_KEPT);
      this.pruneHours.run(oldestHour);
    }
  }
}

/** One ranked key of the overview. */
export interface ConsoleTopItem {
  key: string;
  /** The ASN's organisation; null for other kinds. */
  label: string | null;
  events: number;
  last_seen: string;
  /** Events in the last 24 hours and in the 24 hours before (the trend). */
  last_24h: number;
  prev_24h: number;
}

/** A time bucket of a series (start of the bucket, RFC 3339). */
export interface ConsoleBucket {
  t: string;
  events: number;
}

/** What `/api/v1/overview` answers (see the route's schema). */
export interface ConsoleOverview {
  generated_at: string;
  total_events: number;
  minutes: ConsoleBucket[];
  hours: ConsoleBucket[];
  top: Record<'sources' | 'numbers' | 'user_agents' | 'methods' | 'countries' | 'asns', ConsoleTopItem[]>;
  countries: { country: string; events: number }[];
}

const TOP_KEY: Record<keyof ConsoleOverview['top'], ConsoleKind> = {
  sources: 'ip', numbers: 'number', user_agents: 'ua', methods: 'method', countries: 'country', asns: 'asn',
};

const iso = (us: number): string => new Date(Math.floor(us / 1000)).toISOString();

/** Reader side (the API worker's read-only connection): the overview from the aggregates alone. */
export class ConsoleReader {
  private readonly minutes: Database.Statement;
  private readonly top: Database.Statement;
  private readonly keyHours: Database.Statement;
  private readonly countries: Database.Statement;
  private readonly total: Database.Statement;

  constructor(db: Database.Database) {
    this.minutes = db.prepare('SELECT minute, events FROM console_minutes WHERE minute >= ? ORDER BY minute');
    this.top = db.prepare('SELECT key, label, events, last_us FROM console_key_totals WHERE kind = ? ORDER BY events DESC, key LIMIT ?');
    this.keyHours = db.prepare('SELECT hour, events FROM console_key_hours WHERE kind = ? AND key = ? AND hour >= ?');
    this.countries = db.prepare("SELECT key, events FROM console_key_totals WHERE kind = 'country' ORDER BY events DESC LIMIT 300");
    this.total = db.prepare("SELECT COALESCE(SUM(events), 0) AS n FROM console_key_totals WHERE kind = 'method'");
  }

  /** The overview at `nowUs`, with `limit` keys per top list. */
  overview(nowUs: number, limit: number): ConsoleOverview {
    const minuteNow = Math.floor(nowUs / MINUTE_US);
    const hourNow = Math.floor(nowUs / HOUR_US);
    const byMinute = new Map<number, number>();
    for (const r of this.minutes.iterate(minuteNow - 7 * 24 * 60 - 59) as Iterable<{ minute: number; events: number }>) byMinute.set(r.minute, r.events);
    const minutes: ConsoleBucket[] = [];
    for (let m = minuteNow - 59; m <= minuteNow; m++) minutes.push({ t: iso(m * MINUTE_US), events: byMinute.get(m) ?? 0 });
    const byHour = new Map<number, number>();
    for (const [m, n] of byMinute) {
      const h = Math.floor(m / 60);
      byHour.set(h, (byHour.get(h) ?? 0) + n);
    }
    const hours: ConsoleBucket[] = [];
    for (let h = hourNow - 167; h <= hourNow; h++) hours.push({ t: iso(h * HOUR_US), events: byHour.get(h) ?? 0 });
    const top = {} as ConsoleOverview['top'];
    for (const [name, kind] of Object.entries(TOP_KEY) as [keyof ConsoleOverview['top'], ConsoleKind][]) {
      top[name] = (this.top.all(kind, limit) as { key: string; label: string | null; events: number; last_us: number }[]).map((r) => {
        let last = 0;
        let prev = 0;
        for (const h of this.keyHours.iterate(kind, r.key, hourNow - 47) as Iterable<{ hour: number; events: number }>) {
          if (h.hour > hourNow - 24) last += h.events;
          else prev += h.events;
        }
        return { key: r.key, label: kind === 'asn' ? r.label : null, events: r.events, last_seen: iso(r.last_us), last_24h: last, prev_24h: prev };
      });
    }
    const countries = (this.countries.all() as { key: string; events: number }[]).map((r) => ({ country: r.key, events: r.events }));
    return { generated_at: iso(nowUs), total_events: (this.total.get() as { n: number }).n, minutes, hours, top, countries };
  }
}
