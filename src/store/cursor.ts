/**
 * Keyset cursors of the store's paged lists: an opaque token for a position (time, row id) in one list's order.
 */
import { QueryError } from './query-error.js';

/** A keyset position: a time (µs) and a row id that breaks ties. */
export interface KeysetCursor {
  t: number;
  id: number;
}

/**
 * Encodes a keyset cursor as an opaque base64url token. `tag` names the list it belongs to, so a cursor
 * from one list (or order) is refused by another.
 */
export function encodeCursor(tag: string, c: KeysetCursor): string {
  return Buffer.from(`${tag}:${c.t}:${c.id}`, 'utf8').toString('base64url');
}

/** Decodes {@link encodeCursor}; throws an `invalid` {@link QueryError} for anything malformed or from another list. */
export function decodeCursor(tag: string, token: string): KeysetCursor {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(token)) throw new QueryError('invalid', 'invalid cursor');
  const text = Buffer.from(token, 'base64url').toString('utf8');
  const m = /^([a-z0-9.]+):(-?\d{1,17}):(\d{1,17})$/.exec(text);
  if (!m || m[1] !== tag) throw new QueryError('invalid', 'invalid cursor');
  const t = Number(m[2]);
  const id = Number(m[3]);
  if (!Number.isSafeInteger(t) || !Number.isSafeInteger(id)) throw new QueryError('invalid', 'invalid cursor');
  return { t, id };
}
