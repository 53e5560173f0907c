// The store backends the conformance suite runs against. Each entry is one factory: it opens a fresh store (started)
// with the API's reader over it, and closes and removes it. Adding a backend (PostgreSQL) is one more entry here;
// the suites never see anything but the typed interfaces below.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createLogger } from '../../../src/log.js';
import type { Metrics } from '../../../src/metrics.js';
import { Queries } from '../../../src/store/queries.js';
import { openWebhookOutbox, type WebhookOutboxConnection } from '../../../src/store/outbox.js';
import { runMigrations } from '../../../src/store/migrate.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../../src/store/schema.js';
import { createSqliteStore } from '../../../src/store/sqlite.js';
import type { EventStore } from '../../../src/store/types.js';
import { newMetrics } from '../helpers.js';

/** Options a suite may ask of a fresh store. */
export interface OpenOptions {
  /** Retention in days (absent: off). */
  retentionDays?: number;
  /** Enable the webhook outbox before `start()` (rows written in the batch transaction). */
  webhookOutbox?: boolean;
  /** Backlog bound while the database fails. */
  maxBacklog?: number;
  /** Create the database at this earlier schema version first (0: empty), so `start()` migrates it. */
  fromSchemaVersion?: number;
  /** Longest partial-batch wait (ms). Default 10: suites flush often. */
  batchMaxDelayMs?: number;
}

/** A started store, its reader, and the backend's test-only controls. */
export interface StoreUnderTest {
  readonly store: EventStore;
  /** The API's read queries over the same database. */
  readonly reader: Queries;
  readonly metrics: Metrics;
  /** Parsed log lines the store wrote (warn and above). */
  readonly logs: ReadonlyArray<Record<string, unknown>>;
  /** Another outbox claimer on a connection of its own (a second delivery thread or sensor). */
  openOutbox(): WebhookOutboxConnection;
  /** One retention pass now; resolves with the events deleted. */
  runRetention(): Promise<number>;
  /** Makes writes fail as on a full disk (true), or succeed again (false). */
  setDiskFull(full: boolean): Promise<void>;
  /** Stops the store, closes the reader, removes the database. Idempotent. */
  close(): Promise<void>;
}

/** A store that cannot be reached: starting it or reading through its reader must fail with a coded error. */
export interface UnavailableStore {
  readonly store: EventStore;
  readonly reader: Queries;
  close(): Promise<void>;
}

export interface BackendFactory {
  readonly name: string;
  /** Earlier schema versions this backend can create (0: an empty database) to test migrating from each. */
  readonly earlierSchemaVersions: readonly number[];
  open(opts?: OpenOptions): Promise<StoreUnderTest>;
  openUnavailable(): UnavailableStore;
}

/** Collects pino JSON lines. */
function logSink(): { lines: Record<string, unknown>[]; stream: { write(s: string): void } } {
  const lines: Record<string, unknown>[] = [];
  return { lines, stream: { write: (s) => void lines.push(JSON.parse(s) as Record<string, unknown>) } };
}

function sqliteFile(writer: 'worker' | 'main'): BackendFactory {
  return {
    name: `sqlite file (${writer} writer)`,
    earlierSchemaVersions: Array.from({ length: SCHEMA_VERSION }, (_, i) => i),
    async open(opts = {}) {
      const dir = mkdtempSync(join(tmpdir(), 'sipwarden-conf-'));
      const path = join(dir, 'store.db');
      // Version 0: an empty (0-byte) file, as a package or an operator may create it.
      if (opts.fromSchemaVersion === 0) writeFileSync(path, '');
      if (opts.fromSchemaVersion !== undefined && opts.fromSchemaVersion > 0) {
        const db = new Database(path);
        runMigrations(db, MIGRATIONS.filter((m) => m.version <= opts.fromSchemaVersion!));
        db.close();
      }
      const metrics = newMetrics();
      const log = logSink();
      const store = createSqliteStore({
        path, metrics, logger: createLogger('warn', log.stream), writer,
        batchMaxDelayMs: opts.batchMaxDelayMs ?? 10,
        ...(opts.retentionDays !== undefined ? { retentionDays: opts.retentionDays } : {}),
        ...(opts.maxBacklog !== undefined ? { maxBacklog: opts.maxBacklog } : {}),
        stopTimeoutMs: 1000,
      });
      if (opts.webhookOutbox) store.enableWebhookOutbox();
      try {
        await store.start();
      } catch (err) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
      const reader = new Queries(path, []);
      const outboxes: WebhookOutboxConnection[] = [];
      let closed = false;
      return {
        store, reader, metrics, logs: log.lines,
        openOutbox() {
          const o = openWebhookOutbox(path);
          outboxes.push(o);
          return o;
        },
        runRetention: () => store.runRetention(),
        async setDiskFull(full) {
          // sqlite: cap the file at its current size (the writer connection's max_page_count).
          if (!full) return void (await store.writerPragma('max_page_count = 1073741823'));
          const pages = (await store.writerPragma('page_count')) as { page_count: number }[];
          await store.writerPragma(`max_page_count = ${pages[0]!.page_count}`);
        },
        async close() {
          if (closed) return;
          closed = true;
          for (const o of outboxes) o.close();
          reader.close();
          await store.stop();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
    openUnavailable() {
      // A database path whose directory does not exist: nothing can be opened or created there.
      const path = join(tmpdir(), `sipwarden-conf-missing-${process.pid}-${Date.now()}`, 'store.db');
      const store = createSqliteStore({ path, metrics: newMetrics(), logger: createLogger('silent'), writer });
      const reader = new Queries(path, []);
      return { store, reader, close: async () => { reader.close(); await store.stop(); } };
    },
  };
}

/** Every backend the conformance suite runs against. */
export const BACKENDS: readonly BackendFactory[] = [sqliteFile('worker'), sqliteFile('main')];
