import type { HoneypotEvent } from '../events/event.js';
import { APP_NAME, VERSION } from '../version.js';

/**
 * Why an event was not written as a `honey` row (label `reason` of `sipwarden_store_rows_shed_total`):
 * - `backlog_events`: the writer's backlog held its maximum number of events;
 * - `backlog_bytes`: the backlog held its maximum (estimated) bytes;
 * - `shutdown`: the event arrived after the store had stopped, or the database was still failing when `stop()` gave up.
 */
export type ShedReason = 'backlog_events' | 'backlog_bytes' | 'shutdown';

/** The tally of one key (source address or called number) over events that were not written as rows. */
export interface TallyEntry {
  key: string;
  count: number;
  firstUs: number;
  firstTs: string;
  lastUs: number;
  lastTs: string;
  /** 1 when one of the events was source-verified. */
  verified: number;
  /** Canonical E.164 form of a called number (for its classification when the number is new), else null. */
  e164: string | null;
}

/** What a batch transaction adds to `ip_stats` and `number_stats` for events that have no row (structured-cloneable). */
export interface ShedTally {
  /** Events the tally covers (each is in `ips` and in `numbers` once, unless that map overflowed). */
  events: number;
  ips: TallyEntry[];
  numbers: TallyEntry[];
}

/**
 * The JSON log's summary line while rows are shed: one per second, with `type` = {@link NOT_STORED_TYPE} and no
 * `event_uuid`, so readers of SentryPeer's event lines can skip it. Keys are documented in docs/SINKS.md.
 */
export interface NotStoredSummary {
  type: typeof NOT_STORED_TYPE;
  app_name: string;
  app_version: string;
  /** First and last shed event of the interval, in the event timestamp form. */
  interval_start: string;
  interval_end: string;
  /** Events of the interval that have no `honey` row (their sources and numbers are still counted in the aggregates). */
  events_not_stored: number;
  /** The same events by reason (see {@link ShedReason}). */
  reasons: Partial<Record<ShedReason, number>>;
  /** Of those, events that have no event line in this log either (the log's own hold-back buffer was full). */
  events_not_logged: number;
  /** Source address → events not stored, the largest {@link SUMMARY_SOURCES_LISTED} first. */
  sources: Record<string, number>;
  /** Distinct sources tracked in the interval (at most {@link SUMMARY_SOURCES_TRACKED}; the rest are in `events_of_untracked_sources`). */
  sources_total: number;
  /** Events of sources tracked but not listed in `sources` (beyond the listing bound). */
  events_of_unlisted_sources: number;
  /** Events whose source was not tracked at all (more than {@link SUMMARY_SOURCES_TRACKED} distinct sources). */
  events_of_untracked_sources: number;
}

/** `type` of the summary line. Event lines have no `type` key. */
export const NOT_STORED_TYPE = 'sipwarden_events_not_stored';
/** Sources named per summary line, largest counts first. */
export const SUMMARY_SOURCES_LISTED = 100;
/** Distinct sources tracked per summary interval. */
export const SUMMARY_SOURCES_TRACKED = 10_000;
/** Default bound of each tally map (distinct sources; distinct numbers) between two batch transactions. */
export const DEFAULT_TALLY_KEYS = 100_000;
/**
 * Bound of each tally map in estimated bytes (keys are attacker text: a called number can be a To user of kilobytes).
 * 16 MiB, so the two maps cannot exceed 32 MiB whatever a flood sends.
 */
export const TALLY_MAP_BYTES = 16 * 1024 * 1024;
/** Estimated heap bytes of one tally entry besides its key text. */
const ENTRY_BYTES = 200;

/** A tally map with its estimated size. */
interface Tally {
  map: Map<string, TallyEntry>;
  bytes: number;
}

const newTally = (): Tally => ({ map: new Map(), bytes: 0 });

function addTo(t: Tally, key: string, e: HoneypotEvent, max: number): boolean {
  const a = t.map.get(key);
  if (a === undefined) {
    const size = ENTRY_BYTES + 2 * key.length;
    if (t.map.size >= max || t.bytes + size > TALLY_MAP_BYTES) return false;
    t.bytes += size;
    t.map.set(key, {
      key, count: 1, firstUs: e.eventTimeUs, firstTs: e.eventTimestamp, lastUs: e.eventTimeUs, lastTs: e.eventTimestamp,
      verified: e.sourceVerified ? 1 : 0, e164: e.calledNumberE164,
    });
    return true;
  }
  a.count++;
  if (e.eventTimeUs < a.firstUs) { a.firstUs = e.eventTimeUs; a.firstTs = e.eventTimestamp; }
  if (e.eventTimeUs >= a.lastUs) { a.lastUs = e.eventTimeUs; a.lastTs = e.eventTimestamp; }
  if (e.sourceVerified) a.verified = 1;
  if (a.e164 === null) a.e164 = e.calledNumberE164;
  return true;
}

/**
 * Exact accounting for events the store cannot write as rows (a flood beyond what the database takes, a failing
 * database, shutdown). Rows may be shed; counts may not: every shed event is tallied per source address and per
 * called number in two compact maps on the capture thread, and {@link take} hands the tallies to the next batch
 * transaction, which adds them to `ip_stats` and `number_stats` like rows would. A second, per-second view feeds the
 * JSON log's summary line ({@link takeSummary}).
 *
 * Memory is bounded: each tally map holds at most `maxKeys` distinct keys and {@link TALLY_MAP_BYTES} between two
 * transactions (a flood of millions of spoofed sources or long numbers cannot grow it further); an event whose key does not fit is counted in
 * `overflow` for that table, reported in `sipwarden_store_tally_overflow_total{table}` — an honest "uncounted", never
 * a guess. The summary tracks at most {@link SUMMARY_SOURCES_TRACKED} sources per second the same way.
 */
export class ShedAccounting {
  private ips = newTally();
  private numbers = newTally();
  private events = 0;
  /** Events whose source (ips) or number (numbers) could not be tallied since the last {@link takeOverflow}. */
  private overflow = { ip_stats: 0, number_stats: 0 };

  // The current summary interval.
  private sumEvents = 0;
  private sumNotLogged = 0;
  private sumReasons: Partial<Record<ShedReason, number>> = {};
  private sumSources = new Map<string, number>();
  private sumUntracked = 0;
  private sumFirstUs = 0;
  private sumFirstTs = '';
  private sumLastUs = 0;
  private sumLastTs = '';

  constructor(private readonly maxKeys: number = DEFAULT_TALLY_KEYS) {}

  /** Events tallied and not yet taken. */
  get pending(): number {
    return this.events;
  }

  /** Counts one event that will have no row; `logged` says whether its event line still reaches the JSON log. */
  add(e: HoneypotEvent, reason: ShedReason, logged: boolean): void {
    this.events++;
    if (!addTo(this.ips, e.sourceIp, e, this.maxKeys)) this.overflow.ip_stats++;
    if (!addTo(this.numbers, e.calledNumber, e, this.maxKeys)) this.overflow.number_stats++;
    if (this.sumEvents === 0 || e.eventTimeUs < this.sumFirstUs) { this.sumFirstUs = e.eventTimeUs; this.sumFirstTs = e.eventTimestamp; }
    if (this.sumEvents === 0 || e.eventTimeUs >= this.sumLastUs) { this.sumLastUs = e.eventTimeUs; this.sumLastTs = e.eventTimestamp; }
    this.sumEvents++;
    if (!logged) this.sumNotLogged++;
    this.sumReasons[reason] = (this.sumReasons[reason] ?? 0) + 1;
    const n = this.sumSources.get(e.sourceIp);
    if (n !== undefined) this.sumSources.set(e.sourceIp, n + 1);
    else if (this.sumSources.size < SUMMARY_SOURCES_TRACKED) this.sumSources.set(e.sourceIp, 1);
    else this.sumUntracked++;
  }

  /** The tallies for the next batch transaction (null when there are none); the maps start afresh. */
  take(): ShedTally | null {
    if (this.events === 0) return null;
    const t: ShedTally = { events: this.events, ips: [...this.ips.map.values()], numbers: [...this.numbers.map.values()] };
    this.ips = newTally();
    this.numbers = newTally();
    this.events = 0;
    return t;
  }

  /** Overflow counts since the last call, per aggregate table. */
  takeOverflow(): { ip_stats: number; number_stats: number } {
    const o = this.overflow;
    this.overflow = { ip_stats: 0, number_stats: 0 };
    return o;
  }

  /** The summary of the interval since the last call, or null when nothing was shed in it. */
  takeSummary(): NotStoredSummary | null {
    if (this.sumEvents === 0) return null;
    const sorted = [...this.sumSources].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const sources: Record<string, number> = {};
    let listed = 0;
    for (let i = 0; i < sorted.length && i < SUMMARY_SOURCES_LISTED; i++) {
      sources[sorted[i]![0]] = sorted[i]![1];
      listed += sorted[i]![1];
    }
    const s: NotStoredSummary = {
      type: NOT_STORED_TYPE,
      app_name: APP_NAME,
      app_version: VERSION,
      interval_start: this.sumFirstTs,
      interval_end: this.sumLastTs,
      events_not_stored: this.sumEvents,
      reasons: this.sumReasons,
      events_not_logged: this.sumNotLogged,
      sources,
      sources_total: this.sumSources.size,
      events_of_unlisted_sources: this.sumEvents - this.sumUntracked - listed,
      events_of_untracked_sources: this.sumUntracked,
    };
    this.sumEvents = 0;
    this.sumNotLogged = 0;
    this.sumReasons = {};
    this.sumSources = new Map();
    this.sumUntracked = 0;
    return s;
  }
}

/** One summary line (compact JSON + `\n`). */
export function notStoredLine(s: NotStoredSummary): string {
  return JSON.stringify(s) + '\n';
}

