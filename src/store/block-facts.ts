/**
 * Reads of the block facts the writer keeps (`ip_stats` origin-class columns, `number_check_stats`): one address,
 * one called number, and the addresses that qualify under a policy (for a firewall reconcile). Synchronous
 * better-sqlite3 calls: run them off the capture thread (the API reader worker, the enforcer's own connection).
 */
import type Database from 'better-sqlite3';
import type { BlockPolicy, IpFacts, NumberFacts } from '../enforce/policy.js';

/** The facts of one address plus what `/api/v1/check` shows about it. */
export interface IpRecord {
  ip: string;
  firstSeenUs: number;
  lastSeenUs: number;
  eventCount: number;
  /** Any hit from a proven source. */
  verified: boolean;
  facts: IpFacts;
}

/** The facts of one called-number key. */
export interface NumberRecord {
  key: string;
  firstSeenUs: number;
  facts: NumberFacts;
}

const IP_SQL = `SELECT ip, first_seen_us, last_seen_us, event_count, verified,
  local_hits, local_verified_hits, local_last_us, local_verified_last_us,
  peer_hits, peer_verified_hits, peer_last_us, peer_verified_last_us, opendht_count, opendht_last_us
  FROM ip_stats WHERE ip = ?`;
const NUMBER_SQL = 'SELECT number_key, hits, sources, verified_sources, first_seen_us, last_seen_us FROM number_check_stats WHERE number_key = ?';

type IpRow = [string, number, number, number, number, number, number, number, number, number, number, number, number, number, number];

/** Prepared reads over one connection (statements cached for the connection's life). */
export class BlockFactsReader {
  private readonly ipStmt: Database.Statement;
  private readonly numberStmt: Database.Statement;
  constructor(db: Database.Database) {
    this.ipStmt = db.prepare(IP_SQL).raw();
    this.numberStmt = db.prepare(NUMBER_SQL).raw();
  }

  /** The record of `ip` (normalised text), or null when never seen. */
  ip(ip: string): IpRecord | null {
    const r = this.ipStmt.get(ip) as IpRow | undefined;
    if (r === undefined) return null;
    return {
      ip: r[0], firstSeenUs: r[1], lastSeenUs: r[2], eventCount: r[3], verified: r[4] === 1,
      facts: {
        local: { hits: r[5], verifiedHits: r[6], lastUs: r[7], lastVerifiedUs: r[8] },
        peer: { hits: r[9], verifiedHits: r[10], lastUs: r[11], lastVerifiedUs: r[12] },
        opendht: { hits: r[13], verifiedHits: 0, lastUs: r[14], lastVerifiedUs: 0 },
      },
    };
  }

  /**
   * The record of the first key that exists, preferring the one with the most distinct sources (a number may be
   * stored under its E.164 form and, when that is unknown, under its raw text).
   */
  number(keys: readonly string[]): NumberRecord | null {
    let best: NumberRecord | null = null;
    for (const k of keys) {
      const r = this.numberStmt.get(k) as [string, number, number, number, number, number] | undefined;
      if (r === undefined) continue;
      if (best === null || r[2] > best.facts.sources) {
        best = { key: r[0], firstSeenUs: r[4], facts: { hits: r[1], sources: r[2], verifiedSources: r[3], lastUs: r[5] } };
      }
    }
    return best;
  }
}

/**
 * SQL over `ip_stats` selecting `ip, last_us, counted_hits` for every address that qualifies under `policy` at
 * `nowUs` (exclusions are not applied: the caller filters), newest counted hit first. `family` limits it to IPv4
 * or IPv6. The block ends at `last_us + policy.ttlSeconds`.
 */
export function qualifyingIpsQuery(policy: BlockPolicy, nowUs: number, family?: 4 | 6): { sql: string; args: number[] } {
  const v = policy.verifiedOnly ? '_verified' : '';
  let hits = policy.peers ? `(local${v}_hits + peer${v}_hits)` : `local${v}_hits`;
  let last = policy.peers ? `MAX(local${v}_last_us, peer${v}_last_us)` : `local${v}_last_us`;
  // Trusted OpenDHT values count only when unproven hits count (they are never proven).
  if (policy.opendht && !policy.verifiedOnly) {
    hits = `(${hits} + opendht_count)`;
    last = `MAX(${last}, opendht_last_us)`;
  }
  const fam = family === 4 ? " AND instr(ip, ':') = 0" : family === 6 ? " AND instr(ip, ':') > 0" : '';
  return {
    sql: `SELECT ip, ${last} AS last_us, ${hits} AS counted_hits FROM ip_stats
      WHERE ${hits} >= ? AND ${hits} > 0 AND ${last} > ?${fam} ORDER BY last_us DESC`,
    args: [policy.minHits, nowUs - policy.ttlSeconds * 1_000_000],
  };
}
