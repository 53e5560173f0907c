/**
 * Why a read query failed, in the store's terms: the input cannot be a position in the store (`invalid`: a
 * malformed cursor or ID), or the database cannot be read now (`unavailable`: missing, not migrated, closed). The
 * API maps these to its own answers (400 and 503).
 */
export class QueryError extends Error {
  constructor(readonly kind: 'invalid' | 'unavailable', message: string) {
    super(message);
    this.name = 'QueryError';
  }
}
