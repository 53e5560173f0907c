import type { BlockPolicy, ExcludedLists } from '../enforce/policy.js';

export type { ExcludedLists };

/**
 * Messages between the API's main thread (fastify) and its reader worker (the capture rules: long reads never run on the
 * capture thread). Every read is a request with an id; big bodies are pulled chunk by chunk, so a slow client
 * keeps at most one chunk per stream in memory on either side.
 */

/** An error the worker maps to an HTTP answer (400 bad input, 503 store not available…). */
export interface WireError {
  status: number;
  message: string;
}

/** Main → worker. */
export type ToWorker =
  | { kind: 'query'; id: number; op: string; params: unknown }
  | { kind: 'open'; id: number; op: string; params: unknown }
  | { kind: 'next'; id: number }
  | { kind: 'close'; id: number }
  /** The changing never-blocked lists (bootstrap nodes, connected peers, webhook hosts). */
  | { kind: 'exclusions'; lists: ExcludedLists };

/** Worker → main. `head` answers `open`; `chunk` answers `next` (`null` = end of stream). */
export type FromWorker =
  | { kind: 'result'; id: number; result: unknown }
  | { kind: 'head'; id: number; head: StreamHead }
  | { kind: 'chunk'; id: number; chunk: string | null }
  | { kind: 'error'; id: number; error: WireError };

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

/** An error with an HTTP status, thrown by query code and carried over the worker boundary. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}
