import { ERROR_CODES, SipwardenError } from '../errors.js';

/**
 * Why a read query failed, in the store's terms: the input cannot be a position in the store (`invalid`: a
 * malformed cursor or ID, code `SW_STORE_QUERY_INVALID`), or the database cannot be read now (`unavailable`:
 * missing, not migrated, closed, code `SW_STORE_UNAVAILABLE`). The API maps the codes to its own answers (400, 503).
 */
export class QueryError extends SipwardenError {
  constructor(
    readonly kind: 'invalid' | 'unavailable',
    message: string,
  ) {
    super(kind === 'invalid' ? ERROR_CODES.STORE_QUERY_INVALID : ERROR_CODES.STORE_UNAVAILABLE, message);
    this.name = 'QueryError';
  }
}
