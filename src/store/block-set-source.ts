import type Database from 'better-sqlite3';
import type { BlockPolicy, IpFacts } from '../enforce/policy.js';
import { BlockFactsReader, qualifyingIpsQuery } from './block-facts.js';

/**
 * What the block set reads from the store: one address's facts after a committed batch (primary-key lookups,
 * a few µs each), and every qualifying address for the start-up reconcile (visited, newest counted hit first).
 * Runs on the connection it is given (the store's main-thread connection; the writer commits on its own).
 */
export interface BlockSetStoreSource {
  facts(ip: string): IpFacts | null;
  qualifying(policy: BlockPolicy, nowUs: number, visit: (ip: string, lastUs: number) => void): void;
}

/** Builds the source over `db`. */
export function createBlockSetSource(db: Database.Database): BlockSetStoreSource {
  const reader = new BlockFactsReader(db);
  return {
    facts(ip) {
      return reader.ip(ip)?.facts ?? null;
    },
    qualifying(policy, nowUs, visit) {
      const q = qualifyingIpsQuery(policy, nowUs);
      const stmt = db.prepare(q.sql).raw();
      for (const row of stmt.iterate(...q.args) as IterableIterator<[string, number, number]>) visit(row[0], row[1]);
    },
  };
}
