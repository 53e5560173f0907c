/**
 * The SQL of peer records: the signed envelopes this node keeps for catch-up (`peer_records`, written for our own
 * events and read in pages by the sync protocol) and each peer's catch-up cursor (`peer_cursors`).
 */
import type Database from 'better-sqlite3';

/**
 * Rows read per query of a catch-up page: each synchronous sqlite call stays short (≤ 10 ms on the capture
 * thread), and sqlite is never held across an await between chunks.
 */
export const RECORD_CHUNK = 250;

/** Reads pages of `peer_records` in insertion order (the catch-up protocol's source). */
export class RecordPager {
  private readonly byCursor: Database.Statement<[number, number], { record_id: number; envelope: string }>;
  private readonly firstAt: Database.Statement<[number], { record_id: number; received_at_us: number }>;
  private readonly maxId: Database.Statement<[], { m: number | null }>;

  constructor(db: Database.Database) {
    this.byCursor = db.prepare('SELECT record_id, envelope FROM peer_records WHERE record_id > ? ORDER BY record_id LIMIT ?');
    this.firstAt = db.prepare('SELECT record_id, received_at_us FROM peer_records WHERE record_id >= ? ORDER BY record_id LIMIT 1');
    this.maxId = db.prepare('SELECT MAX(record_id) AS m FROM peer_records');
  }

  /**
   * The cursor just before the first record received at or after `sinceUs`. `received_at_us` grows with
   * `record_id`, so a binary search over the primary key finds it without scanning the table.
   */
  cursorAt(sinceUs: number): number {
    const max = this.maxId.get()?.m ?? 0;
    let lo = 1;
    let hi = max + 1; // answer in [lo, hi]; hi = "none"
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const row = this.firstAt.get(mid);
      if (!row) {
        hi = mid;
      } else if (row.received_at_us >= sinceUs) {
        hi = Math.min(mid, row.record_id);
      } else {
        lo = row.record_id + 1;
      }
    }
    return lo - 1;
  }

  chunk(after: number, n: number): Array<{ record_id: number; envelope: string }> {
    return this.byCursor.all(after, Math.min(n, RECORD_CHUNK));
  }
}

/** Writes our own envelopes and keeps peers' cursors. */
export interface PeerRecordWriter {
  /** Inserts `[event_uuid, origin_peer_id, envelope, received_at_us]` rows in one transaction (duplicates ignored). */
  insertOwn(rows: Array<[string, string, string, number]>): void;
  /** The cursor we reached on a peer's records, or null. */
  cursor(peer: string): string | null;
  /** Stores the cursor reached on a peer's records. */
  setCursor(peer: string, cursor: string, nowUs: number): void;
}

/** Prepares the peer-record statements on `db`. */
export function createPeerRecordWriter(db: Database.Database): PeerRecordWriter {
  const ins = db.prepare(
    'INSERT OR IGNORE INTO peer_records (event_uuid, origin_peer_id, envelope, received_at_us) VALUES (?, ?, ?, ?)',
  );
  const insertOwn = db.transaction((rows: Array<[string, string, string, number]>) => {
    for (const r of rows) ins.run(...r);
  });
  const getCursor = db.prepare<[string], { cursor: string | null }>('SELECT cursor FROM peer_cursors WHERE peer_id = ?');
  const setCursor = db.prepare(
    'INSERT INTO peer_cursors (peer_id, cursor, updated_at_us) VALUES (?, ?, ?) ON CONFLICT (peer_id) DO UPDATE SET cursor = excluded.cursor, updated_at_us = excluded.updated_at_us',
  );
  return {
    insertOwn: (rows) => insertOwn(rows),
    cursor: (peer) => getCursor.get(peer)?.cursor ?? null,
    setCursor: (peer, cursor, nowUs) => void setCursor.run(peer, cursor, nowUs),
  };
}

/** Peer records as P2P sees them: our own envelopes and peers' cursors written, pages read for catch-up. */
export interface PeerRecords extends PeerRecordWriter {
  readonly pager: RecordPager;
}

/** Builds {@link PeerRecords} over `db` (the store's main-thread connection). */
export function peerRecordsOn(db: Database.Database): PeerRecords {
  return { ...createPeerRecordWriter(db), pager: new RecordPager(db) };
}
