import type Database from 'better-sqlite3';

/** What the store knows of one source address, from `ip_stats` (all-time counts, kept by every batch). */
export interface IpAggregate {
  ip: string;
  firstSeenUs: number;
  /** Time of the latest event (UTC µs). */
  lastSeenUs: number;
  /** Events from this address, all time. */
  hits: number;
  /** At least one event from it had a proven source address. */
  verified: boolean;
}

/** Read-only queries over `ip_stats` for the block set (start-up reconcile, addresses a batch touched). */
export interface IpAggregateReader {
  /** One address, or undefined when it has no row. */
  get(ip: string): IpAggregate | undefined;
  /**
   * Every address whose last event is at or after `sinceUs`, oldest last hit first (so the newest end up last,
   * which is the order the block set evicts in). Streams rows: 500,000 addresses never sit in one array here.
   */
  lastSeenSince(sinceUs: number): IterableIterator<IpAggregate>;
  /**
   * True when the address has at least one event of local origin (`local` or `legacy`) at or after `sinceUs`
   * (used when peers' records must not count). Uses `source_ip_index`.
   */
  hasLocalEventSince(ip: string, sinceUs: number): boolean;
}

interface Row {
  ip: string;
  first_seen_us: number;
  last_seen_us: number;
  event_count: number;
  verified: number;
}

const toAgg = (r: Row): IpAggregate => ({
  ip: r.ip, firstSeenUs: r.first_seen_us, lastSeenUs: r.last_seen_us, hits: r.event_count, verified: r.verified !== 0,
});

/** Builds the reader on a connection (the store's main-thread connection, or a read-only one). */
export function createIpAggregateReader(db: Database.Database): IpAggregateReader {
  const one = db.prepare('SELECT ip, first_seen_us, last_seen_us, event_count, verified FROM ip_stats WHERE ip = ?');
  const since = db.prepare(
    'SELECT ip, first_seen_us, last_seen_us, event_count, verified FROM ip_stats WHERE last_seen_us >= ? ORDER BY last_seen_us ASC, last_honey_id ASC',
  );
  const local = db.prepare(
    "SELECT 1 FROM honey WHERE source_ip = ? AND event_time_us >= ? AND (origin IS NULL OR origin IN ('local', 'legacy')) LIMIT 1",
  );
  return {
    get(ip) {
      const r = one.get(ip) as Row | undefined;
      return r === undefined ? undefined : toAgg(r);
    },
    *lastSeenSince(sinceUs) {
      for (const r of since.iterate(sinceUs) as IterableIterator<Row>) yield toAgg(r);
    },
    hasLocalEventSince(ip, sinceUs) {
      return local.get(ip, sinceUs) !== undefined;
    },
  };
}
