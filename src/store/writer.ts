import type Database from 'better-sqlite3';
import type { HoneypotEvent } from '../events/event.js';
import type { ShedTally, TallyEntry } from './shed.js';
import type { BatchHook, NumberClassifier } from './types.js';
import { isOutOfSpace, releaseWal } from './wal.js';
import { fixedExclusion } from '../enforce/policy.js';
import { ConsoleWriter } from './console.js';

/** Per-batch aggregate of one key (ip, number, user agent, method), so each key is upserted once per batch. */
interface Agg {
  firstUs: number;
  firstTs: string;
  lastUs: number;
  lastTs: string;
  lastHoneyId: number;
  count: number;
  verified: number;
  /** Events of origin `opendht` (unsigned, see the ip_stats column) and the newest of them (µs, 0 = none). */
  opendht: number;
  opendhtLastUs: number;
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
      lastHoneyId: honeyId, count: 1, verified: ev.sourceVerified ? 1 : 0, opendht: ev.origin === 'opendht' ? 1 : 0, opendhtLastUs: ev.origin === 'opendht' ? ev.eventTimeUs : 0,
      e164: ev.calledNumberE164, country: ev.sourceCountry, city: ev.sourceCity, asn: ev.sourceAsn ?? null, org: ev.sourceOrg ?? null,
    });
    return;
  }
  a.count++;
  if (ev.origin === 'opendht') {
    a.opendht++;
    if (ev.eventTimeUs > a.opendhtLastUs) a.opendhtLastUs = ev.eventTimeUs;
  }
  if (ev.eventTimeUs < a.firstUs) { a.firstUs = ev.eventTimeUs; a.firstTs = ev.eventTimestamp; }
  if (ev.eventTimeUs >= a.lastUs) { a.lastUs = ev.eventTimeUs; a.lastTs = ev.eventTimestamp; }
  if (honeyId > a.lastHoneyId) a.lastHoneyId = honeyId;
  if (ev.sourceVerified) a.verified = 1;
  if (a.e164 === null) a.e164 = ev.calledNumberE164;
}

/** Per-batch block facts of one address, split by origin class (see migration `block_facts`). */
interface IpClassAgg {
  lh: number; lvh: number; llu: number; lvlu: number;
  ph: number; pvh: number; plu: number; pvlu: number;
}

/** Block facts of an address that had no stored event in the batch. */
const NO_CLASS: Readonly<IpClassAgg> = { lh: 0, lvh: 0, llu: 0, lvlu: 0, ph: 0, pvh: 0, plu: 0, pvlu: 0 };

function foldIpClass(map: Map<string, IpClassAgg>, ev: HoneypotEvent): void {
  let a = map.get(ev.sourceIp);
  if (a === undefined) map.set(ev.sourceIp, (a = { lh: 0, lvh: 0, llu: 0, lvlu: 0, ph: 0, pvh: 0, plu: 0, pvlu: 0 }));
  const t = ev.eventTimeUs;
  if (ev.origin === 'peer') {
    a.ph++;
    if (t > a.plu) a.plu = t;
    if (ev.sourceVerified) (a.pvh++, t > a.pvlu && (a.pvlu = t));
  } else if (ev.origin === 'local' || ev.origin === 'legacy') {
    a.lh++;
    if (t > a.llu) a.llu = t;
    if (ev.sourceVerified) (a.lvh++, t > a.lvlu && (a.lvlu = t));
  }
}

/** Per-batch facts of one called-number key: hits, times, and its sources (address → proven). */
interface NumberKeyAgg {
  hits: number;
  firstUs: number;
  lastUs: number;
  sources: Map<string, boolean>;
}

const NUMBER_LIKE = /^\+?[0-9]+$/;

/** The key a called number is counted under: its E.164 form, else the raw text if number-like, else null. */
export function numberKey(calledNumber: string, e164: string | null): string | null {
  if (e164 !== null) return e164;
  return NUMBER_LIKE.test(calledNumber) ? calledNumber : null;
}

function foldNumberKey(map: Map<string, NumberKeyAgg>, ev: HoneypotEvent): void {
  if (ev.origin !== 'local' && ev.origin !== 'legacy' && ev.origin !== 'peer') return;
  // Loopback/link-local sources are the operator's own tests, never attackers of a number.
  if (fixedExclusion(ev.sourceIp) !== null) return;
  const key = numberKey(ev.calledNumber, ev.calledNumberE164);
  if (key === null) return;
  let a = map.get(key);
  if (a === undefined) map.set(key, (a = { hits: 0, firstUs: ev.eventTimeUs, lastUs: ev.eventTimeUs, sources: new Map() }));
  a.hits++;
  if (ev.eventTimeUs < a.firstUs) a.firstUs = ev.eventTimeUs;
  if (ev.eventTimeUs > a.lastUs) a.lastUs = ev.eventTimeUs;
  if (ev.sourceVerified) a.sources.set(ev.sourceIp, true);
  else if (!a.sources.has(ev.sourceIp)) a.sources.set(ev.sourceIp, false);
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
      verified: t.verified, opendht: 0, opendhtLastUs: 0, e164: t.e164, country: null, city: null, asn: null, org: null,
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
 * The batch transaction of `honey` rows, aggregate upserts, credentials and peer records, then
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
  private readonly insertNumberSource: Database.Statement;
  private readonly verifyNumberSource: Database.Statement;
  private readonly upsertNumberCheck: Database.Statement;
  private readonly txn: (events: readonly HoneypotEvent[], tally: ShedTally | null) => number[];
  /** Numbers known to have a `number_stats` row, so the classifier runs only for new ones. */
  private readonly knownNumbers = new Set<string>();
  /** The dashboard's per-minute and per-key aggregates. */
  private readonly console: ConsoleWriter;
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
    this.upsertIp = db.prepare(`INSERT INTO ip_stats (ip, first_seen_us, last_seen_us, first_seen, last_seen, last_honey_id, event_count, verified,
      local_hits, local_verified_hits, local_last_us, local_verified_last_us, peer_hits, peer_verified_hits, peer_last_us, peer_verified_last_us, opendht_count, opendht_last_us,
      country, city, asn, org)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ip) DO UPDATE SET ${FIRST_SEEN_TEXT} ${UPSERT_TAIL},
      verified = MAX(verified, excluded.verified),
      local_hits = local_hits + excluded.local_hits, local_verified_hits = local_verified_hits + excluded.local_verified_hits,
      local_last_us = MAX(local_last_us, excluded.local_last_us), local_verified_last_us = MAX(local_verified_last_us, excluded.local_verified_last_us),
      peer_hits = peer_hits + excluded.peer_hits, peer_verified_hits = peer_verified_hits + excluded.peer_verified_hits,
      peer_last_us = MAX(peer_last_us, excluded.peer_last_us), peer_verified_last_us = MAX(peer_verified_last_us, excluded.peer_verified_last_us),
      opendht_count = opendht_count + excluded.opendht_count, opendht_last_us = MAX(opendht_last_us, excluded.opendht_last_us),
      -- Geo columns: set when the address is first stored; a row without them (older data) takes the first known.
      country = COALESCE(country, excluded.country), city = COALESCE(city, excluded.city), asn = COALESCE(asn, excluded.asn), org = COALESCE(org, excluded.org)`);
    this.insertNumberSource = db.prepare('INSERT OR IGNORE INTO number_sources (number_key, ip, verified) VALUES (?, ?, ?)');
    this.verifyNumberSource = db.prepare('UPDATE number_sources SET verified = 1 WHERE number_key = ? AND ip = ? AND verified = 0');
    this.upsertNumberCheck = db.prepare(`INSERT INTO number_check_stats (number_key, hits, sources, verified_sources, first_seen_us, last_seen_us)
      VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (number_key) DO UPDATE SET hits = hits + excluded.hits, sources = sources + excluded.sources,
      verified_sources = verified_sources + excluded.verified_sources, first_seen_us = MIN(first_seen_us, excluded.first_seen_us),
      last_seen_us = MAX(last_seen_us, excluded.last_seen_us)`);
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
    this.console = new ConsoleWriter(db);
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
    const ipClasses = new Map<string, IpClassAgg>();
    const numberKeys = new Map<string, NumberKeyAgg>();
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
      foldIpClass(ipClasses, e);
      foldNumberKey(numberKeys, e);
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
    for (const [ip, g] of ips) {
      // An address known only from shed (row-less) events adds to its counts but not to the block facts, which
      // describe stored events.
      const c = ipClasses.get(ip) ?? NO_CLASS;
      this.upsertIp.run(ip, g.firstUs, g.lastUs, g.firstTs, g.lastTs, g.lastHoneyId, g.count, g.verified, c.lh, c.lvh, c.llu, c.lvlu, c.ph, c.pvh, c.plu, c.pvlu, g.opendht, g.opendhtLastUs,
        g.country, g.city, g.asn, g.org);
    }
    for (const [key, g] of numberKeys) {
      // Exact distinct-source counts: a pair counts once, when first stored; a source counts as proven once.
      let sources = 0;
      let verified = 0;
      for (const [ip, v] of g.sources) {
        if (this.insertNumberSource.run(key, ip, v ? 1 : 0).changes === 1) {
          sources++;
          if (v) verified++;
        } else if (v && this.verifyNumberSource.run(key, ip).changes === 1) verified++;
      }
      this.upsertNumberCheck.run(key, g.hits, sources, verified, g.firstUs, g.lastUs);
    }
    for (const [n, g] of numbers) this.upsertNumberStats(n, g);
    for (const [ua, g] of uas) this.upsertUa.run(ua, g.firstUs, g.lastUs, g.lastTs, g.lastHoneyId, g.count);
    for (const [m, g] of methods) this.upsertMethod.run(m, g.firstUs, g.lastUs, g.lastTs, g.lastHoneyId, g.count);
    this.console.write(events, nowUs);
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
        // First sighting of this number: classify it once, never per event.
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
