/**
 * Output types of the pure SIP wire parser (`parse.ts`). The parser never throws: it returns
 * `{ ok: true, msg }` or `{ ok: false, reason }`.
 */

/** Why bytes were not a SIP request (the capture rules malformed reasons, used as the metric label). */
export type MalformedReason =
  /** A status line such as `SIP/2.0 404 Not Found`. */
  | 'response'
  /** Not SIP at all: binary, HTTP, broken request line. */
  | 'not_sip'
  /** Larger than the message budget (65,535 bytes). */
  | 'oversize'
  /** Ends before the request line is complete. */
  | 'truncated'
  /** Empty, or only CR/LF (keep-alive). Not counted as malformed; counted as keep-alive. */
  | 'empty';

/** Budgets that a recorded request may exceed (metric label of `sipwarden_sip_budget_exceeded_total`). */
export type BudgetName = 'header_line' | 'header_count';

/** Parser budgets. */
export interface ParseBudgets {
  /** Max message bytes (default 65,535). Larger → `oversize`. */
  maxMessageBytes: number;
  /** Max bytes of one header line (default 8,192); longer lines are skipped. */
  maxHeaderLineBytes: number;
  /** Max headers kept (default 256); later ones are ignored. */
  maxHeaders: number;
}

export const DEFAULT_BUDGETS: Readonly<ParseBudgets> = Object.freeze({
  maxMessageBytes: 65_535,
  maxHeaderLineBytes: 8_192,
  maxHeaders: 256,
});

/** One header as received; folded lines already joined with one space, value trimmed of SP/HT. */
export interface SipHeader {
  /** Name as received (e.g. `v`, `VIA`). */
  rawName: string;
  /** Canonical lowercase full name (compact forms expanded: `v` → `via`, `l` → `content-length`). */
  name: string;
  /** Value decoded as UTF-8 (U+FFFD for invalid bytes); control characters kept as they are. */
  value: string;
}

/** A parsed SIP request. Pure data: safe to pass across threads. */
export interface SipRequest {
  /** Request-line method token, as received. */
  method: string;
  /** Request-URI text, as received. */
  requestUri: string;
  /** e.g. `SIP/2.0`. */
  sipVersion: string;
  /** Headers in order of appearance (after budgets). */
  headers: SipHeader[];
  /** Body bytes (per Content-Length when it fits, else everything after the header block). */
  body: Buffer;
  /** The message bytes exactly as received (the whole datagram, or one framed TCP message). */
  raw: Buffer;
  /** True when `raw` is valid UTF-8. */
  rawIsUtf8: boolean;
  /** The whole message as a string when it is pure ASCII (then it equals `raw` decoded as UTF-8), else null. */
  text: string | null;
  /** Budgets exceeded while parsing (the request is still an event). */
  budgetExceeded: BudgetName[];
}

export type ParseResult = { ok: true; msg: SipRequest } | { ok: false; reason: MalformedReason };

/**
 * Fields extracted from a request per the event fields (see `extract.ts`). Strings are UTF-8 decoded; user agent
 * already escaped for storage.
 */
export interface ExtractedFields {
  requestUriUser: string | null;
  toUser: string | null;
  calledNumber: string;
  calledNumberE164: string | null;
  /** Stored form: escaped, `NOT_FOUND` when missing/blank. */
  userAgent: string;
  callId: string | null;
  /** Top Via branch parameter, or null. */
  topViaBranch: string | null;
  /** CSeq header value, trimmed, or null. */
  cseq: string | null;
}
