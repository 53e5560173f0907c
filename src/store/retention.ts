import type Database from 'better-sqlite3';

/** Minimal logger surface, so the retention job can run in the writer worker too. */
export interface RetentionLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface RetentionInit {
  db: Database.Database;
  /** Keep this many days of `honey` rows; ≤ 0 disables retention. */
  retentionDays: number;
  log: RetentionLog;
  /** Rows deleted per step (one short transaction). Default 500. */
  stepRows?: number;
  /** Pause between steps so other work (batches, capture) interleaves. Default 1 ms. */
  stepPauseMs?: number;
  /** How often a run starts. Default one hour. */
  intervalMs?: number;
  /** Clock, for tests. */
  nowUs?: () => number;
}

export interface Retention {
  start(): void;
  stop(): Promise<void>;
  /** Runs one full pass now (all steps); resolves with the number of honey rows deleted. */
  runOnce(): Promise<number>;
}

const DAY_US = 86_400_000_000;

/**
 * the store schema retention: deletes `honey` rows older than N days with their `credentials` and `peer_records`, in
 * small transactions with a pause between them so no step holds the writer (or the thread) for long. Aggregate
 * tables are left alone: they keep all-time counts and first/last seen.
 */
export function createRetention(init: RetentionInit): Retention {
  const { db, log } = init;
  const stepRows = init.stepRows ?? 500;
  const pause = init.stepPauseMs ?? 1;
  const intervalMs = init.intervalMs ?? 3_600_000;
  const nowUs = init.nowUs ?? (() => Date.now() * 1000);
  const enabled = init.retentionDays > 0;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let stopped = false;

  const select = db.prepare('SELECT honey_id AS id, event_uuid AS uuid FROM honey WHERE event_time_us < ? ORDER BY event_time_us LIMIT ?');
  const delHoney = db.prepare('DELETE FROM honey WHERE honey_id = ?');
  const delCred = db.prepare('DELETE FROM credentials WHERE event_uuid = ?');
  const delPeer = db.prepare('DELETE FROM peer_records WHERE event_uuid = ?');
  const step = db.transaction((cutoff: number): number => {
    const rows = select.all(cutoff, stepRows) as { id: number; uuid: string | null }[];
    for (const r of rows) {
      if (r.uuid !== null) {
        delCred.run(r.uuid);
        delPeer.run(r.uuid);
      }
      delHoney.run(r.id);
    }
    return rows.length;
  });

  async function pass(): Promise<number> {
    const cutoff = nowUs() - init.retentionDays * DAY_US;
    let total = 0;
    while (!stopped) {
      let n: number;
      try {
        n = step(cutoff);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'retention step failed; retrying at the next run');
        break;
      }
      total += n;
      if (n < stepRows) break;
      await new Promise((r) => setTimeout(r, pause));
    }
    if (total > 0) log.info({ deleted: total, retentionDays: init.retentionDays }, 'retention deleted old events');
    return total;
  }

  function runOnce(): Promise<number> {
    if (!enabled) return Promise.resolve(0);
    running ??= pass().finally(() => { running = undefined; });
    return running;
  }

  return {
    start() {
      if (!enabled || stopped || timer) return;
      void runOnce();
      timer = setInterval(() => void runOnce(), intervalMs);
      timer.unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = undefined;
      await running;
    },
    runOnce,
  };
}
