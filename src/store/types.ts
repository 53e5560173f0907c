import type Database from 'better-sqlite3';
import type { Startable } from '../lifecycle.js';
import type { HoneypotEvent } from '../events/event.js';
import type { BlockSetStoreSource } from './block-set-source.js';
import type { BatchObserverModule } from './observers.js';
import type { WebhookOutbox } from './outbox.js';
import type { PeerRecords } from './peer-records.js';

/**
 * Runs inside the store's batch transaction, after the batch's `honey` rows were inserted (so `honeyIds` are
 * known). Store-internal: the webhook outbox rows are written this way; it is given the writer connection, so it
 * never leaves src/store/.
 */
export type BatchHook = (db: Database.Database, events: readonly HoneypotEvent[], honeyIds: readonly number[]) => void;

/**
 * Classifies a canonical E.164 number once per distinct number (number_stats country/type).
 * Returns nulls/`unknown` when it cannot place the number — never guesses.
 */
export type NumberClassifier = (e164: string) => { country: string | null; type: NumberType };
export type NumberType = 'fixed' | 'mobile' | 'fixed_or_mobile' | 'premium_rate' | 'toll_free' | 'shared_cost' | 'voip' | 'personal' | 'pager' | 'uan' | 'voicemail' | 'unknown';

/** Called on the main thread after each batch commits, with the batch's events in commit order. */
export type CommitListener = (events: readonly HoneypotEvent[]) => void;

/**
 * The event store: the one owner of the database. `append` is synchronous and cheap: it queues the event for
 * the batching writer (≤100 ms or 1,000 events per transaction); a write failure never throws out of `append`.
 * Everything else reaches the database only through the typed interfaces below, which the store builds.
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
  /** Path of the database file, or `:memory:`. */
  readonly path: string;
  /**
   * The committed-batch subscription: `listener` runs on this (main) thread after each batch commits, with the
   * batch's events in commit order (the block set, the live event stream, the webhook's wake-up). Keep it cheap:
   * it runs between batches. A throw is counted and logged, never affects the store. Returns an unsubscribe.
   */
  onCommit(listener: CommitListener): () => void;
  /**
   * Registers a batch observer (before `start()`): built in the writer's thread from its typed registration
   * ({@link observerModule}), it sees every accepted event once, in order, before its batch commits — also while
   * the database is failing (the JSON log).
   */
  addBatchObserver<O>(registration: BatchObserverModule<O>): void;
  /** SIGHUP: observers reopen their files. */
  reopenObservers(): void;
  /** SIGHUP: the writer reopens the GeoIP/ASN databases; resolves null, or why the old ones stay in use. */
  reloadGeo(): Promise<string | null>;
  /**
   * Writes one webhook outbox row per stored event (local or peer). Called before `start()`, the rows are written
   * in the batch's own transaction (returns true); called later with a writer thread, right after each commit in
   * a transaction of their own (returns false: a crash in between could lose that batch's rows).
   */
  enableWebhookOutbox(): boolean;
  /** The webhook outbox on the store's main-thread connection (after `start()`; `:memory:` stores). */
  webhookOutbox(): WebhookOutbox;
  /** Peer records and catch-up cursors on the store's main-thread connection (after `start()`). */
  peerRecords(): PeerRecords;
  /** What the block set reads: per-address facts and the qualifying addresses (after `start()`). */
  blockSetSource(): BlockSetStoreSource;
}
