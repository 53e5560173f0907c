/**
 * The one error catalogue. Every error we raise on purpose is a SipwardenError with a stable code;
 * docs/ERRORS.md documents each code. Codes never change meaning once released.
 */
export const ERROR_CODES = {
  /** Bad command-line flag, environment variable, config key or value. Exit code 2. */
  CONFIG_INVALID: 'SW_CONFIG_INVALID',
  /** A listener the operator asked for could not bind. Exit code 1. */
  LISTEN_FAILED: 'SW_LISTEN_FAILED',
  /** No SIP listener could be opened (and -R was not given). Exit code 1. */
  NO_SIP_LISTENER: 'SW_NO_SIP_LISTENER',
  /** The store could not be opened or migrated. Exit code 1. */
  STORE_OPEN_FAILED: 'SW_STORE_OPEN_FAILED',
  /** The database was written by a newer sipwarden schema. Exit code 1, file untouched. */
  STORE_SCHEMA_TOO_NEW: 'SW_STORE_SCHEMA_TOO_NEW',
  /** A write batch failed (disk full, I/O error); retried with backoff. */
  STORE_WRITE_FAILED: 'SW_STORE_WRITE_FAILED',
  /** A read query's input cannot be a position in the store (a malformed cursor or ID); the API answers 400. */
  STORE_QUERY_INVALID: 'SW_STORE_QUERY_INVALID',
  /** The store cannot be read now (missing, not migrated, closed); the API answers 503. */
  STORE_UNAVAILABLE: 'SW_STORE_UNAVAILABLE',
  /** A GeoIP/ASN database file cannot be used (missing, unreadable, not a MaxMind file, wrong kind, corrupt). */
  GEO_DATABASE_INVALID: 'SW_GEO_DATABASE_INVALID',
  /** TLS certificate could not be loaded or created. */
  TLS_CERT_FAILED: 'SW_TLS_CERT_FAILED',
  /** Bad API request input (400). */
  API_BAD_REQUEST: 'SW_API_BAD_REQUEST',
  /** Missing or wrong bearer token (401). */
  API_UNAUTHORIZED: 'SW_API_UNAUTHORIZED',
  /** Rate limited (429). */
  API_RATE_LIMITED: 'SW_API_RATE_LIMITED',
  /** The API cannot answer now: store not available, reader worker gone, shutting down (503). */
  API_UNAVAILABLE: 'SW_API_UNAVAILABLE',
  /** Sink delivery failed (webhook, syslog, JSON log); counted, never fatal. */
  SINK_DELIVERY_FAILED: 'SW_SINK_DELIVERY_FAILED',
  /** An explicitly configured sink (`-j`/`-l` file, `--syslog-target`) cannot be opened at start. Exit code 2. */
  SINK_OPEN_FAILED: 'SW_SINK_OPEN_FAILED',
  /** A peer record failed validation. */
  P2P_RECORD_INVALID: 'SW_P2P_RECORD_INVALID',
  /** `--p2p-engine opendht|both` without the OpenDHT C library (Debian `libopendht-c2`). Exit code 2. */
  OPENDHT_UNAVAILABLE: 'SW_OPENDHT_UNAVAILABLE',
  /** An unexpected error while handling one packet/connection/record; counted, never fatal. */
  INTERNAL: 'SW_INTERNAL',
  /** A worker thread exited or crashed while calls to it were pending; the calls fail with this code. */
  WORKER_EXITED: 'SW_WORKER_EXITED',
  /** The firewall enforcer cannot work here (tool missing, no CAP_NET_ADMIN, no set timeouts). Exit code 2. */
  FIREWALL_UNAVAILABLE: 'SW_FIREWALL_UNAVAILABLE',
  /** The firewall table or set of that name belongs to something else. Exit code 2. */
  FIREWALL_FOREIGN: 'SW_FIREWALL_FOREIGN',
  /** A firewall update failed at run time; logged, counted, retried with backoff, never stops capture. */
  FIREWALL_UPDATE_FAILED: 'SW_FIREWALL_UPDATE_FAILED',
  /** `sipwarden query`: the node's API gave no HTTP answer (refused, DNS, TLS, time-out). Exit code 2. */
  API_UNREACHABLE: 'SW_API_UNREACHABLE',
  /** `sipwarden query`: the node's API answered with an error status (401, 400, 429 after retries, 5xx). Exit code 1. */
  API_REQUEST_FAILED: 'SW_API_REQUEST_FAILED',
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** Base class of every error sipwarden raises on purpose. */
export class SipwardenError extends Error {
  readonly code: ErrorCode;
  /** Process exit code when this error ends start-up. */
  readonly exitCode: number;
  constructor(code: ErrorCode, message: string, exitCode = 1, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SipwardenError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

/**
 * A usage or configuration error. `where` names the flag (`--api-listen`), variable (`SIPWARDEN_API`)
 * or `file:line`; the CLI prints `sipwarden: error: <where>: <reason>` and exits 2.
 */
export class ConfigError extends SipwardenError {
  readonly where: string;
  readonly reason: string;
  constructor(where: string, reason: string) {
    super(ERROR_CODES.CONFIG_INVALID, `${where}: ${reason}`, 2);
    this.name = 'ConfigError';
    this.where = where;
    this.reason = reason;
  }
}

/** `code: text` of a Node file-system error, without the repeated path (`ENOENT: no such file or directory`). */
export function osCause(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const msg = err instanceof Error ? err.message : String(err);
  const cut = msg.search(/, (open|mkdir|stat|access|connect|scandir|lstat) '/);
  return cut > 0 ? msg.slice(0, cut) : e.code ? `${e.code}: ${msg}` : msg;
}
