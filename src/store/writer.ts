import type Database from 'better-sqlite3';
import type { HoneypotEvent } from '../events/event.js';
import type { ShedTally, TallyEntry } from './shed.js';
import type { BatchHook, NumberClassifier } from './types.js';
import { isOutOfSpace, releaseWal } from './wal.js';

/** Per-batch aggregate of one key (ip, number, user agent, method), so each key is upserted once per batch. */
interface Agg {
  firstUs: number;
  firstTs: string;
  lastUs: number;
  lastTs: string;
  lastHoneyId: number;
  count: number;
  verified: number;
  e164: string | null;
  country: string | null;
  city: string | null;
  asn: number | null;
  org: string | null;
}

function fold(map: Map<string, Agg>, key: string, ev: HoneypotEvent, honeyId: number): void {
  const a = map.get(key);
  if (a === undefined) {
    map.set(key, {
      firstUs: ev.eventTimeUs, firstTs: ev.eventTimestamp, lastUs: ev.eventTimeUs, lastTs: ev.eventTimestamp,
      lastHoneyId: honeyId, count: 1, verified: ev.sourceVerified ? 1 : 0, e164: ev.calledNumberE164,
      country: ev.sourceCountry, city: ev.sourceCity, asn: ev.sourceAsn ?? null, org: ev.sourceOrg ?? null,
    });
    return;
  }
  a.count++;
  if (ev.eventTimeUs < a.firstUs) { a.firstUs = ev.eventTimeUs; a.firstTs = ev.eventTimestamp; }
  if (ev.eventTimeUs >= a.lastUs) { a.lastUs = ev.eventTimeUs; a.lastTs = ev.eventTimestamp; }
  if (honeyId > a.lastHoneyId) a.lastHoneyId = honeyId;
  if (ev.sourceVerified) a.verified = 1;
  if (a.e164 === null) a.e164 = ev.calledNumberE164;
}

// In SQLite's UPDATE, every right-hand side sees the row's old values, so the CASEs compare against the old times.
const UPSERT_TAIL = `
  first_seen_us = MIN(first_seen_us, excluded.first_seen_us),
  last_seen = CASE WHEN excluded.last_seen_us >= last_seen_us THEN excluded.last_seen ELSE last_seen END,
  last_seen_us = MAX(last_seen_us, excluded.last_seen_us),
  last_honey_id = MAX(last_honey_id, excluded.last_honey_id),
  event_count = event_count + excluded.event_count`;
const FIRST_SEEN_TEXT = `first_seen = CASE WHEN excluded.first_seen_us < first_seen_us THEN excluded.first_seen ELSE first_seen END,`;

/**
 * Adds the tally of events that have no row to a batch's aggregate of the same key. Such events have no honey id,
 * so `last_honey_id` keeps the newest row's id (0 for a key seen only in events without rows).
 */
function foldTally(map: Map<string, Agg>, t: TallyEntry): void {
  const a = map.get(t.key);
  if (a === undefined) {
    map.set(t.key, {
      firstUs: t.firstUs, firstTs: t.firstTs, lastUs: t.lastUs, lastTs: t.lastTs, lastHoneyId: 0, count: t.count,
      verified: t.verified, e164: t.e164, country: null, city: null, asn: null, org: null,
    });
    return;
  }
  a.count += t.count;
  if (t.firstUs < a.firstUs) { a.firstUs = t.firstUs; a.firstTs = t.firstTs; }
  if (t.lastUs >= a.lastUs) { a.lastUs = t.lastUs; a.lastTs = t.lastTs; }
  if (t.verified) a.verified = 1;
  if (a.e164 === null) a.e164 = t.e164;
}

/** Bound on the "already classified" cache; past it the cache restarts (the DB lookup is the fallback). */
const KNOWN_NUMBERS_MAX = 200_000;

/**
 * The batch transaction of SPEC §8.1–§8.2: `honey` rows, aggregate upserts, credentials and peer records, then
 * the registered batch hooks, all in one transaction. Runs wherever its connection lives (main thread or worker).
 */
export class BatchWriter {
  private readonly insertHoney: Database.Statement;
  private readonly insertCred: Database.Statement;
  private readonly insertPeer: Database.Statement;
  private readonly upsertIp: Database.Statement;
  private readonly upsertNumberNew: Database.Statement;
  private readonly upsertNumber: Database.Statement;
  private readonly selectNumber: Database.Statement;
  private readonly setNumberClass: Database.Statement;
  private readonly upsertUa: Database.Statement;
  private readonly upsertMethod: Database.Statement;
  private readonly txn: (events: readonly HoneypotEvent[], tally: ShedTally | null) => number[];
  /** Numbers known to have a `number_stats` row, so the classifier runs only for new ones. */
  private readonly knownNumbers = new Set<string>();
  constructor(
    readonly db: Database.Database,
    private readonly classifier: NumberClassifier,
    /** Called in order inside every batch transaction; the array is read per batch, so later pushes apply. */
    readonly hooks: BatchHook[] = [],
  ) {
    this.insertHoney = db.prepare(`INSERT INTO honey (event_timestamp, event_uuid, collected_method, source_ip,
      called_number, transport_type, method, user_agent, sip_message, created_by_node_id,
      destination_ip, source_port, destination_port, called_number_e164, request_uri_user, to_user, event_time_us,
      origin, origin_peer_id, response_code, sip_message_raw, source_country, source_city, source_verified,
      source_asn, source_org)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.insertCred = db.prepare(`INSERT INTO credentials (honey_id, event_uuid, event_time_us, source_ip, source_port,
      transport_type, method, header, scheme, username, realm, nonce, uri, response, algorithm, qop, nc, cnonce, opaque,
      user_agent, password, password_source, password_verified)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.insertPeer = db.prepare(`INSERT OR IGNORE INTO peer_records (event_uuid, origin_peer_id, envelope, received_at_us)
      VALUES (?, ?, ?, ?)`);
    // Geo columns: set when the address is first stored; a row without them (older data) takes the first known.
    this.upsertIp = db.prepare(`INSERT INTO ip_stats (ip, first_seen_us, last_seen_us, first_seen, last_seen, last_honey_id, event_count, verified,
      country, city, asn, org)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ip) DO UPDATE SET ${FIRST_SEEN_TEXT} ${UPSERT_TAIL},
      verified = MAX(verified, excluded.verified),
      country = COALESCE(country, excluded.country), city = COALESCE(city, excluded.city), asn = COALESCE(asn, excluded.asn), org = COALESCE(org, excluded.org)`);
    const numberCols = `(called_number, called_number_e164, country, number_type, first_seen_us, last_seen_us, first_seen, last_seen, last_honey_id, event_count)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
    // A new number: insert with its classification. A known one: counts only.
    this.upsertNumberNew = db.prepare(`INSERT INTO number_stats ${numberCols} ON CONFLICT (called_number) DO UPDATE SET
      ${FIRST_SEEN_TEXT} ${UPSERT_TAIL}`);
    this.upsertNumber = db.prepare(`UPDATE number_stats SET
      first_seen = CASE WHEN @firstUs < first_seen_us THEN @firstTs ELSE first_seen END,
      first_seen_us = MIN(first_seen_us, @firstUs),
      last_seen = CASE WHEN @lastUs >= last_seen_us THEN @lastTs ELSE last_seen END,
      last_seen_us = MAX(last_seen_us, @lastUs),
      last_honey_id = MAX(last_honey_id, @lastHoneyId),
      event_count = event_count + @count
      WHERE called_number = @n`);
    this.setNumberClass = db.prepare('UPDATE number_stats SET called_number_e164 = ?, country = ?, number_type = ? WHERE called_number = ?');
    this.selectNumber = db.prepare('SELECT called_number_e164 AS e164, number_type AS type FROM number_stats WHERE called_number = ?');
    this.upsertUa = db.prepare(`INSERT INTO user_agent_stats (user_agent, first_seen_us, last_seen_us, last_seen, last_honey_id, event_count)
      VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_agent) DO UPDATE SET ${UPSERT_TAIL}`);
    this.upsertMethod = db.prepare(`INSERT INTO method_stats (method, first_seen_us, last_seen_us, last_seen, last_honey_id, event_count)
      VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (method) DO UPDATE SET ${UPSERT_TAIL}`);
    this.txn = db.transaction((events: readonly HoneypotEvent[], tally: ShedTally | null) => this.writeInTxn(events, tally));
  }

  /**
   * Writes one batch in one transaction and returns the honey ids in event order. Throws on failure (rolled back).
   * `tally` counts events that get no row (shed under overload) into `ip_stats` and `number_stats` in the same
   * transaction, so the aggregates stay exact.
   */
  write(events: readonly HoneypotEvent[], tally: ShedTally | null = null): number[] {
    try {
      return this.txn(events, tally);
    } catch (err) {
      this.resetCaches();
      // Disk full: give the WAL's space back before the retry (and before anything else takes it).
      if (isOutOfSpace(err)) releaseWal(this.db);
      throw err;
    }
  }

  private writeInTxn(events: readonly HoneypotEvent[], tally: ShedTally | null): number[] {
    const ids: number[] = new Array<number>(events.length);
    const ips = new Map<string, Agg>();
    const numbers = new Map<string, Agg>();
    const uas = new Map<string, Agg>();
    const methods = new Map<string, Agg>();
    const nowUs = Date.now() * 1000;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const raw = e.sipMessageRaw == null ? null : Buffer.isBuffer(e.sipMessageRaw)
        ? e.sipMessageRaw
        : Buffer.from((e.sipMessageRaw as Uint8Array).buffer, (e.sipMessageRaw as Uint8Array).byteOffset, (e.sipMessageRaw as Uint8Array).byteLength);
      const id = Number(this.insertHoney.run(
        e.eventTimestamp, e.eventUuid, e.collectedMethod, e.sourceIp, e.calledNumber, e.transport, e.method,
        e.userAgent, e.sipMessage, e.createdByNodeId, e.destinationIp, e.sourcePort, e.destinationPort,
        e.calledNumberE164, e.requestUriUser, e.toUser, e.eventTimeUs, e.origin, e.originPeerId, e.responseCode,
        raw, e.sourceCountry, e.sourceCity, e.sourceVerified ? 1 : 0, e.sourceAsn ?? null, e.sourceOrg ?? null,
      ).lastInsertRowid);
      ids[i] = id;
      fold(ips, e.sourceIp, e, id);
      fold(numbers, e.calledNumber, e, id);
      fold(uas, e.userAgent, e, id);
      fold(methods, e.method, e, id);
      const a = e.auth;
      if (a) {
        this.insertCred.run(
          id, e.eventUuid, e.eventTimeUs, e.sourceIp, e.sourcePort, e.transport, e.method, a.header, a.scheme,
          a.username, a.realm, a.nonce, a.uri, a.response, a.algorithm, a.qop, a.nc, a.cnonce, a.opaque, e.userAgent,
          a.password, a.passwordSource, a.passwordVerified === null ? null : a.passwordVerified ? 1 : 0,
        );
      }
      if (e.peerEnvelope !== null && e.peerEnvelope !== undefined) {
        this.insertPeer.run(e.eventUuid, e.originPeerId ?? '', e.peerEnvelope, nowUs);
      }
    }
    if (tally !== null) {
      for (const t of tally.ips) foldTally(ips, t);
      for (const t of tally.numbers) foldTally(numbers, t);
    }
    for (const [ip, g] of ips) this.upsertIp.run(ip, g.firstUs, g.lastUs, g.firstTs, g.lastTs, g.lastHoneyId, g.count, g.verified, g.country, g.city, g.asn, g.org);
    for (const [n, g] of numbers) this.upsertNumberStats(n, g);
    for (const [ua, g] of uas) this.upsertUa.run(ua, g.firstUs, g.lastUs, g.lastTs, g.lastHoneyId, g.count);
    for (const [m, g] of methods) this.upsertMethod.run(m, g.firstUs, g.lastUs, g.lastTs, g.lastHoneyId, g.count);
    for (const hook of this.hooks) hook(this.db, events, ids);
    return ids;
  }

  private classify(e164: string | null): { country: string | null; type: string } {
    if (e164 === null) return { country: null, type: 'unknown' };
    try {
      return this.classifier(e164);
    } catch {
      return { country: null, type: 'unknown' }; // an unplaceable number stays unknown
    }
  }

  private upsertNumberStats(n: string, g: Agg): void {
    if (this.knownNumbers.has(n)) {
      this.upsertNumber.run({ firstUs: g.firstUs, firstTs: g.firstTs, lastUs: g.lastUs, lastTs: g.lastTs, lastHoneyId: g.lastHoneyId, count: g.count, n });
    } else {
      const row = this.selectNumber.get(n) as { e164: string | null; type: string | null } | undefined;
      if (row === undefined) {
        // First sighting of this number: classify it once (SPEC §8.2), never per event.
        const c = this.classify(g.e164);
        this.upsertNumberNew.run(n, g.e164, c.country, c.type, g.firstUs, g.lastUs, g.firstTs, g.lastTs, g.lastHoneyId, g.count);
      } else {
        if (row.type === null) {
          // A row backfilled from SentryPeer data has no classification yet: fill it once, now that we have the e164.
          const c = this.classify(g.e164);
          this.setNumberClass.run(g.e164, c.country, c.type, n);
        }
        this.upsertNumber.run({ firstUs: g.firstUs, firstTs: g.firstTs, lastUs: g.lastUs, lastTs: g.lastTs, lastHoneyId: g.lastHoneyId, count: g.count, n });
      }
    }
    if (this.knownNumbers.size >= KNOWN_NUMBERS_MAX) this.knownNumbers.clear();
    this.knownNumbers.add(n);
  }

  /** Forget cached knowledge (after a rollback the cache may name numbers whose rows were never committed). */
  resetCaches(): void {
    this.knownNumbers.clear();
  }
}
