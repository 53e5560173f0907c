/**
 * The webhook outbox writer as a store batch hook. It lives in its own small module so the store
 * can load it in its writer thread (`addBatchHookModule`) and run it inside the very transaction that inserts
 * the `honey` rows; with the main-thread writer it runs there, also inside that transaction.
 */
import type Database from 'better-sqlite3';
import type { HoneypotEvent } from '../events/event.js';
import { toJsonLogLine } from '../events/json-log.js';
import type { BatchHook } from '../store/types.js';

/** The JSON-log format object as one compact line without `\n`: the webhook body. */
export function webhookBody(e: HoneypotEvent): string {
  const line = toJsonLogLine(e);
  return line.slice(0, -1);
}

const insertByDb = new WeakMap<Database.Database, Database.Statement>();

/** Inserts one pending outbox row per event (local or peer). Call inside the batch transaction. */
export function insertOutboxRows(db: Database.Database, events: readonly HoneypotEvent[]): void {
  let ins = insertByDb.get(db);
  if (!ins) {
    ins = db.prepare(
      "INSERT INTO webhook_outbox (event_uuid, body, state, attempts, created_at_us, next_attempt_us) VALUES (?, ?, 'pending', 0, ?, ?)",
    );
    insertByDb.set(db, ins);
  }
  const nowUs = Date.now() * 1000;
  for (const e of events) ins.run(e.eventUuid, webhookBody(e), nowUs, nowUs);
}

/** Hook factory for `EventStore.addBatchHookModule({ module, exportName: 'createOutboxHook' })`. */
export function createOutboxHook(): BatchHook {
  return (db, events) => insertOutboxRows(db, events);
}
