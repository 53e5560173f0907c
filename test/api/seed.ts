/**
 * Test/bench helper: creates a migrated sqlite file and inserts events through the store's own batch writer
 * (BatchWriter), so `honey` and the aggregate tables (ip_stats, number_stats, user_agent_stats, method_stats,
 * credentials) stay consistent exactly as in production.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { formatEventTimestamp, newUuid, type CapturedAuth, type HoneypotEvent, type Transport } from '../../src/events/event.js';
import { toE164 } from '../../src/net/numbers.js';
import { openAndMigrate } from '../../src/store/migrate.js';
import { classifyNumber } from '../../src/store/number-intel.js';
import { BatchWriter } from '../../src/store/writer.js';

export const NODE_ID = '00000000-0000-4000-8000-000000000001';

/** Fields a test sets; everything else gets a plausible default. */
export interface SeedEvent {
  sourceIp: string;
  /** UTC µs; default: now. */
  timeUs?: number;
  method?: string;
  transport?: Transport;
  calledNumber?: string;
  userAgent?: string;
  verified?: boolean;
  origin?: 'local' | 'peer' | 'legacy';
  auth?: Partial<CapturedAuth> | null;
  sourcePort?: number;
  /** E.164 form of calledNumber if already known (skips toE164; benchmarks). */
  e164?: string | null;
}

/** A temp directory with a migrated database. */
export interface TestDb {
  dir: string;
  path: string;
  db: Database.Database;
  writer: BatchWriter;
  /** Inserts events in one batch transaction; returns their honey ids. */
  insert(events: readonly SeedEvent[]): number[];
  close(): void;
}

/** Creates `<tmp>/sipwarden.db`, migrated, with a writer connection (WAL). */
export function createTestDb(prefix = 'sipwarden-api-'): TestDb {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const path = join(dir, 'sipwarden.db');
  const { db } = openAndMigrate(path);
  const writer = new BatchWriter(db, classifyNumber);
  return {
    dir,
    path,
    db,
    writer,
    insert: (events) => writer.write(events.map(toEvent)),
    close() {
      try {
        db.close();
      } catch {
        /* closed */
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Builds a full HoneypotEvent from a SeedEvent. */
export function toEvent(s: SeedEvent): HoneypotEvent {
  const us = s.timeUs ?? Date.now() * 1000;
  const method = s.method ?? 'OPTIONS';
  const called = s.calledNumber ?? '100';
  const a = s.auth;
  return {
    eventUuid: newUuid(),
    eventTimestamp: formatEventTimestamp(BigInt(us) * 1000n),
    eventTimeUs: us,
    sourceIp: s.sourceIp,
    sourcePort: s.sourcePort ?? 5060,
    destinationIp: '127.0.0.1',
    destinationPort: 5060,
    transport: s.transport ?? 'UDP',
    method,
    requestUriUser: called === 'NOT_FOUND' ? null : called,
    toUser: called === 'NOT_FOUND' ? null : called,
    calledNumber: called,
    calledNumberE164: s.e164 !== undefined ? s.e164 : called === 'NOT_FOUND' ? null : toE164(called),
    userAgent: s.userAgent ?? 'friendly-scanner',
    sipMessage: `${method} sip:${called}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP ${s.sourceIp}:5060\r\n\r\n`,
    sipMessageRaw: null,
    collectedMethod: 'responsive',
    createdByNodeId: NODE_ID,
    origin: s.origin ?? 'local',
    originPeerId: s.origin === 'peer' ? '12D3KooWtest' : null,
    responseCode: 200,
    auth: a
      ? {
          header: 'Authorization', scheme: 'Digest', username: '100', realm: 'asterisk', nonce: 'abc', uri: 'sip:127.0.0.1',
          response: '0123456789abcdef0123456789abcdef', algorithm: 'MD5', qop: null, nc: null, cnonce: null, opaque: null,
          password: null, passwordSource: null, passwordVerified: null, ...a,
        }
      : null,
    sourceVerified: s.verified ?? (s.transport === 'TCP' || s.transport === 'TLS'),
    sourceCountry: null,
    sourceCity: null,
    peerEnvelope: null,
  };
}

/** Deterministic PRNG (mulberry32) for reproducible synthetic data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
