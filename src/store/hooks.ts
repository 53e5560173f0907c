import type Database from 'better-sqlite3';
import type { BatchHook } from './types.js';
import { ERROR_CODES, SipwardenError } from '../errors.js';

/**
 * A batch hook given as a module, so it can run in the writer thread inside the batch transaction:
 * `module` is a file URL or specifier whose `exportName` export is `(options) => BatchHook`.
 */
export interface HookModuleSpec {
  module: string;
  exportName: string;
  /** Structured-cloneable options passed to the factory. */
  options?: unknown;
}

/** Imports a {@link HookModuleSpec} and builds its hook. */
export async function loadHookModule(spec: HookModuleSpec): Promise<BatchHook> {
  const mod = (await import(spec.module)) as Record<string, unknown>;
  const factory = mod[spec.exportName];
  if (typeof factory !== 'function') throw new SipwardenError(ERROR_CODES.CONFIG_INVALID, `batch hook module ${spec.module} has no function export ${spec.exportName}`);
  return (factory as (o: unknown) => BatchHook)(spec.options);
}

/**
 * Writer-connection tuning (measured, see docs/STORE.md): a 16 MiB page cache (64 MiB measured no faster with 1M+
 * rows, where the random `event_uuid_index` outgrows either and the OS page cache serves the misses, and cost
 * ~50 MB of RSS), and a larger auto-checkpoint threshold (40 MiB of WAL) turns one fsync-ing checkpoint per
 * batch into one every few seconds at load.
 */
export function tuneWriter(db: Database.Database): void {
  db.pragma('cache_size = -16384');
  db.pragma('wal_autocheckpoint = 10000');
  db.pragma('journal_size_limit = 67108864');
}
