import { createSqliteStore, type SqliteEventStore, type SqliteStoreInit } from './sqlite.js';

/**
 * An in-memory EventStore: the sqlite store on `:memory:` with the same code (writer on the main thread).
 * For tests and API-only experiments; nothing survives the process.
 */
export function createMemoryStore(init: Omit<SqliteStoreInit, 'path' | 'writer'>): SqliteEventStore {
  return createSqliteStore({ ...init, path: ':memory:', writer: 'main' });
}
