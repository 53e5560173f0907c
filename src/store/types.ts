import type Database from 'better-sqlite3';
import type { Startable } from '../lifecycle.js';
import type { HoneypotEvent } from '../events/event.js';

/**
 * Runs inside the store's batch transaction, after the batch's `honey` rows were inserted (so `honeyIds` are
 * known). Used by sinks that need durability in the same transaction (webhook outbox).
 */
export type BatchHook = (db: Database.Database, events: readonly HoneypotEvent[], honeyIds: readonly number[]) => void;

/**
 * Classifies a canonical E.164 number once per distinct number (number_stats country/type).
 * Returns nulls/`unknown` when it cannot place the number — never guesses.
 */
export type NumberClassifier = (e164: string) => { country: string | null; type: NumberType };
export type NumberType = 'fixed' | 'mobile' | 'fixed_or_mobile' | 'premium_rate' | 'toll_free' | 'shared_cost' | 'voip' | 'personal' | 'pager' | 'uan' | 'voicemail' | 'unknown';

/**
 * The event store. `append` is synchronous and cheap: it queues the event for the batching writer
 * (≤100 ms or 1,000 events per transaction). A write failure never throws out of `append`.
 */
export interface EventStore extends Startable {
  /** Persisted node UUID (`sipwarden_meta.node_id`), available after `start()`. */
  readonly nodeId: string;
  /** Queue an event for the next batch. */
  append(event: HoneypotEvent): void;
  /** Resolves when everything appended so far is committed. */
  flush(): Promise<void>;
  /** True when an event with this uuid is stored or queued (P2P dedupe). */
  hasEvent(eventUuid: string): boolean;
  /** Register a hook that runs in every batch transaction. */
  addBatchHook(hook: BatchHook): void;
  /** The underlying writer connection, for components that own their own tables (outbox, peers). */
  readonly db: Database.Database;
  /** Path of the database file, or `:memory:`. */
  readonly path: string;
}
