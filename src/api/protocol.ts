import type { BlockPolicy, ExcludedLists } from '../enforce/policy.js';
import type { BlocklistQuery, Queries } from '../store/queries.js';
import type { BlocklistFormat, FirewallNames } from './format.js';
import { ERROR_CODES, SipwardenError, type ErrorCode } from '../errors.js';

export type { ExcludedLists };

/**
 * Messages between the API's main thread (fastify) and its reader worker (the capture rules: long reads never run on the
 * capture thread). Every read is a request with an id; big bodies are pulled chunk by chunk, so a slow client
 * keeps at most one chunk per stream in memory on either side.
 */

type Q = Queries;

/**
 * The reader worker's method map (shared by both sides through `src/rpc/`). Queries answer with one result;
 * big bodies are streams of text chunks (~64 KiB) pulled one at a time.
 */
export interface ReaderProtocol {
  calls: {
    ipExists: { params: { ip: string }; result: ReturnType<Q['ipExists']> };
    numberExists: { params: { raw: string; e164: string[] }; result: ReturnType<Q['numberExists']> };
    userAgentExists: { params: { ua: string }; result: ReturnType<Q['userAgentExists']> };
    methodExists: { params: { method: string }; result: ReturnType<Q['methodExists']> };
    countryExists: { params: { cc: string }; result: ReturnType<Q['countryExists']> };
    cityExists: { params: { cc: string; city: string }; result: ReturnType<Q['cityExists']> };
    events: { params: Parameters<Q['events']>[0]; result: ReturnType<Q['events']> };
    ipAddresses: { params: Parameters<Q['ipAddresses']>[0]; result: ReturnType<Q['ipAddresses']> };
    numbers: { params: Parameters<Q['numbers']>[0]; result: ReturnType<Q['numbers']> };
    credentials: { params: Parameters<Q['credentials']>[0]; result: ReturnType<Q['credentials']> };
    userAgents: { params: Parameters<Q['userAgents']>[0]; result: ReturnType<Q['userAgents']> };
    methods: { params: undefined; result: ReturnType<Q['methods']> };
    stats: { params: { hours: number; nowUs: number }; result: ReturnType<Q['stats']> };
    overview: { params: { nowUs: number; limit: number }; result: ReturnType<Q['overview']> };
    /** The answer as JSON text (serialised in the worker). */
    check: { params: { query: Parameters<Q['check']>[0]; nowUs: number }; result: string };
    apiban: { params: { after: string | null; windowStartUs: number; verified: boolean }; result: ReturnType<Q['apiban']> };
  };
  streams: {
    compatList: { params: { kind: 'ip' | 'number' | 'ua' | 'method' | 'country' }; head: StreamHead; chunk: string };
    ipset: { params: { family: 4 | 6 | null }; head: StreamHead; chunk: string };
    blocklist: { params: { query: BlocklistQuery & { format: BlocklistFormat; names: FirewallNames }; nowUs: number }; head: StreamHead; chunk: string };
  };
  toWorker: {
    /** The changing never-blocked lists (bootstrap nodes, connected peers, webhook hosts). */
    exclusions: ExcludedLists;
  };
  fromWorker: Record<never, never>;
}

/** What the main thread needs before the first body byte: row count, known only inside the snapshot. */
export interface StreamHead {
  total: number;
}

/** Data given to the worker at start. */
export interface WorkerInit {
  dbPath: string;
  /** `--allow` CIDRs: never listed or exported. */
  allow: string[];
  /** The changing never-blocked lists as known when the worker starts. */
  excluded?: ExcludedLists;
  /** The block policy (call-check answers). */
  policy?: BlockPolicy;
  /** Let addresses known only from unsigned OpenDHT values into blocklist exports (`--trust-opendht`). */
  trustOpendht?: boolean;
}

/** The catalogue code of each HTTP status the API answers with an error; any other status is `SW_INTERNAL`. */
const CODE_OF_STATUS: ReadonlyMap<number, ErrorCode> = new Map([
  [400, ERROR_CODES.API_BAD_REQUEST],
  [401, ERROR_CODES.API_UNAUTHORIZED],
  [429, ERROR_CODES.API_RATE_LIMITED],
  [503, ERROR_CODES.API_UNAVAILABLE],
]);

/**
 * An error with an HTTP status, thrown by query code and carried over the worker boundary by its code and
 * status (never recognised by its message).
 */
export class ApiError extends SipwardenError {
  readonly status: number;
  constructor(status: number, message: string) {
    super(CODE_OF_STATUS.get(status) ?? ERROR_CODES.INTERNAL, message);
    this.name = 'ApiError';
    this.status = status;
  }

  /**
   * Rebuilds an API error from an error that crossed a thread boundary: the status it carried, else the
   * status its code stands for (a worker that exited is 503), else 500.
   */
  static from(err: { code: string; message: string; details?: Record<string, unknown> | undefined }): ApiError {
    const carried = err.details?.['status'];
    if (typeof carried === 'number') return new ApiError(carried, err.message);
    if (err.code === ERROR_CODES.WORKER_EXITED || err.code === ERROR_CODES.API_UNAVAILABLE || err.code === ERROR_CODES.STORE_UNAVAILABLE) {
      return new ApiError(503, err.message);
    }
    if (err.code === ERROR_CODES.STORE_QUERY_INVALID) return new ApiError(400, err.message);
    for (const [status, code] of CODE_OF_STATUS) if (code === err.code) return new ApiError(status, err.message);
    return new ApiError(500, err.message);
  }
}
