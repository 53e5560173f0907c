/**
 * Lenient, allocation-light SIP request parser. Pure and total: it never throws, whatever the
 * bytes. Works on byte offsets; strings are created only for the request line and for kept header names/values.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import {
  DEFAULT_BUDGETS,
  type BudgetName,
  type ParseBudgets,
  type ParseResult,
  type SipHeader,
  type SipRequest,
} from './types.js';

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;

/** RFC 3261 `token` characters (1 = allowed; indexed by byte): alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~". */
export const TOKEN = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;
for (const ch of '-.!%*_+`\'~') TOKEN[ch.charCodeAt(0)] = 1;

/** Compact header forms (RFC 3261 §7.3.3 and the IANA registry) → canonical lowercase full name. */
export const COMPACT_FORMS: Readonly<Record<string, string>> = Object.freeze({
  a: 'accept-contact',
  b: 'referred-by',
  c: 'content-type',
  d: 'request-disposition',
  e: 'content-encoding',
  f: 'from',
  i: 'call-id',
  j: 'reject-contact',
  k: 'supported',
  l: 'content-length',
  m: 'contact',
  n: 'identity-info',
  o: 'event',
  r: 'refer-to',
  s: 'subject',
  t: 'to',
  u: 'allow-events',
  v: 'via',
  x: 'session-expires',
  y: 'identity',
});

/** Canonical lowercase header name: ASCII-lowercased, compact forms expanded. */
export function canonicalHeaderName(rawName: string): string {
  const lower = rawName.toLowerCase();
  if (lower.length === 1) {
    const full = COMPACT_FORMS[lower];
    if (full !== undefined) return full;
  }
  return lower;
}

function isWs(b: number): boolean {
  return b === SP || b === HT;
}

/** Resolves partial budgets against the defaults. */
function resolveBudgets(b: Partial<ParseBudgets> | undefined): ParseBudgets {
  if (b === undefined) return DEFAULT_BUDGETS;
  return {
    maxMessageBytes: b.maxMessageBytes ?? DEFAULT_BUDGETS.maxMessageBytes,
    maxHeaderLineBytes: b.maxHeaderLineBytes ?? DEFAULT_BUDGETS.maxHeaderLineBytes,
    maxHeaders: b.maxHeaders ?? DEFAULT_BUDGETS.maxHeaders,
  };
}

/**
 * Checks that `t[s, e)` is `SIP/<digits>.<digits>` (scheme case-insensitive).
 * Returns 1 for a full match, 0 for a strict prefix of one (possibly truncated), -1 otherwise.
 */
function matchVersion(t: string, s: number, e: number): 1 | 0 | -1 {
  let i = s;
  for (let k = 0; k < 4; k++, i++) {
    if (i >= e) return 0;
    const c = t.charCodeAt(i);
    const ok = k === 0 ? (c | 0x20) === 0x73 : k === 1 ? (c | 0x20) === 0x69 : k === 2 ? (c | 0x20) === 0x70 : c === 0x2f;
    if (!ok) return -1;
  }
  let d1 = 0;
  while (i < e && isDigit(t.charCodeAt(i))) { i++; d1++; }
  if (i >= e) return 0;
  if (d1 === 0 || t.charCodeAt(i) !== 0x2e) return -1;
  i++;
  let d2 = 0;
  while (i < e && isDigit(t.charCodeAt(i))) { i++; d2++; }
  if (i < e) return -1;
  return d2 > 0 ? 1 : 0;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * Parses one SIP message (one UDP datagram, or one framed TCP/TLS message). Never throws.
 *
 * `{ ok: false, reason }`: `empty` (nothing or only CR/LF), `oversize`, `response` (a status line), `truncated`
 * (bytes end inside the request line), `not_sip` (anything else). Otherwise a {@link SipRequest} whose `raw` is
 * `buf` itself (not copied) and `body` a view into it.
 */
export function parseSipMessage(buf: Buffer, budgets?: Partial<ParseBudgets>): ParseResult {
  try {
    return parseUnsafe(buf, resolveBudgets(budgets));
  } catch {
    // Defensive only: the parser is written not to throw, but an attacker must never be able to crash capture.
    return { ok: false, reason: 'not_sip' };
  }
}

/** Parser state for one message (a class keeps property access monomorphic and avoids per-call closures). */
class HeaderCollector {
  readonly headers: SipHeader[] = [];
  readonly budgetExceeded: BudgetName[] = [];
  contentLength = -1;
  rawName = '';
  value = '';
  bytes = 0;
  /** 0 none, 1 collecting, 2 dropping (over budget / no colon / past the count cap). */
  state = 0;
  constructor(private readonly maxHeaders: number) {}

  flush(): void {
    if (this.state === 1) {
      if (this.headers.length >= this.maxHeaders) this.exceeded('header_count');
      else {
        const name = canonicalHeaderName(this.rawName);
        this.headers.push({ rawName: this.rawName, name, value: this.value });
        if (this.contentLength === -1 && name === 'content-length') this.contentLength = parseContentLength(this.value);
      }
    }
    this.state = 0;
  }

  exceeded(b: BudgetName): void {
    if (!this.budgetExceeded.includes(b)) this.budgetExceeded.push(b);
  }
}

function parseUnsafe(buf: Buffer, budgets: ParseBudgets): ParseResult {
  const len = buf.length;
  if (len === 0) return { ok: false, reason: 'empty' };
  if (len > budgets.maxMessageBytes) return { ok: false, reason: 'oversize' };

  // Scan a latin1 view (one char per byte, so offsets are byte offsets). For pure-ASCII messages (the common
  // case) header strings are cheap slices of it; otherwise they are decoded from the bytes as UTF-8.
  const t = buf.toString('latin1');
  const ascii = isAscii(buf);
  const text = (a: number, b: number): string => (ascii ? t.slice(a, b) : buf.toString('utf8', a, b));

  // RFC 3261 §7.5: skip CRLFs before the start line.
  let pos = 0;
  while (pos < len && (t.charCodeAt(pos) === CR || t.charCodeAt(pos) === LF)) pos++;
  if (pos === len) return { ok: false, reason: 'empty' };

  // ---- Request line ----
  const lfAt = t.indexOf('\n', pos);
  const terminated = lfAt !== -1;
  let contentEnd = terminated ? lfAt : len;
  if (terminated && contentEnd > pos && t.charCodeAt(contentEnd - 1) === CR) contentEnd--;
  while (contentEnd > pos && isWs(t.charCodeAt(contentEnd - 1))) contentEnd--;

  // A status line (`SIP/2.0 404 …`) is a response, not a request ('/' is not a token character).
  if (len - pos >= 4 && (t.charCodeAt(pos) | 0x20) === 0x73 && (t.charCodeAt(pos + 1) | 0x20) === 0x69
    && (t.charCodeAt(pos + 2) | 0x20) === 0x70 && t.charCodeAt(pos + 3) === 0x2f) {
    return { ok: false, reason: 'response' };
  }

  // METHOD
  let i = pos;
  while (i < contentEnd && TOKEN[t.charCodeAt(i)] === 1) i++;
  const methodEnd = i;
  if (methodEnd === pos) return { ok: false, reason: 'not_sip' };
  if (i === contentEnd) return { ok: false, reason: terminated ? 'not_sip' : 'truncated' };
  if (!isWs(t.charCodeAt(i))) return { ok: false, reason: 'not_sip' };
  while (i < contentEnd && isWs(t.charCodeAt(i))) i++;
  // Request-URI: any run of bytes above SP except DEL.
  const uriStart = i;
  while (i < contentEnd && t.charCodeAt(i) > SP && t.charCodeAt(i) !== 0x7f) i++;
  const uriEnd = i;
  if (uriEnd === uriStart || i === contentEnd) return { ok: false, reason: terminated ? 'not_sip' : 'truncated' };
  if (!isWs(t.charCodeAt(i))) return { ok: false, reason: 'not_sip' };
  while (i < contentEnd && isWs(t.charCodeAt(i))) i++;
  const verStart = i;
  while (i < contentEnd && !isWs(t.charCodeAt(i))) i++;
  const verEnd = i;
  if (verEnd !== contentEnd) return { ok: false, reason: 'not_sip' }; // trailing junk after the version
  const v = matchVersion(t, verStart, verEnd);
  if (v === -1) return { ok: false, reason: 'not_sip' };
  if (v === 0) return { ok: false, reason: terminated ? 'not_sip' : 'truncated' };

  const method = t.slice(pos, methodEnd); // token chars are ASCII
  const requestUri = text(uriStart, uriEnd);
  const sipVersion = t.slice(verStart, verEnd);

  // ---- Headers ----
  const maxLine = budgets.maxHeaderLineBytes;
  const hc = new HeaderCollector(budgets.maxHeaders);
  let bodyStart = len; // unterminated header block → empty body

  pos = terminated ? lfAt + 1 : len;
  while (pos < len) {
    const lf = t.indexOf('\n', pos);
    const end = lf === -1 ? len : lf;
    let ce = end;
    if (lf !== -1 && ce > pos && t.charCodeAt(ce - 1) === CR) ce--;
    if (ce === pos) {
      // Blank line: end of the header block (CRLFCRLF or LFLF). A lone trailing CR ends the bytes.
      if (lf !== -1) bodyStart = lf + 1;
      break;
    }
    const lineBytes = ce - pos;
    if (isWs(t.charCodeAt(pos))) {
      // Continuation line (obsolete folding); it belongs to nothing when the header is dropped.
      if (hc.state === 1) {
        hc.bytes += lineBytes;
        if (hc.bytes > maxLine) {
          hc.exceeded('header_line');
          hc.state = 2;
        } else {
          let s = pos;
          let e = ce;
          while (s < e && isWs(t.charCodeAt(s))) s++;
          while (e > s && isWs(t.charCodeAt(e - 1))) e--;
          if (e > s) {
            const part = text(s, e);
            hc.value = hc.value.length === 0 ? part : hc.value + ' ' + part;
          }
        }
      }
    } else {
      hc.flush();
      if (lineBytes > maxLine) {
        hc.exceeded('header_line');
        hc.state = 2;
      } else {
        const colon = t.indexOf(':', pos);
        let ne = colon;
        if (colon !== -1 && colon < ce) while (ne > pos && isWs(t.charCodeAt(ne - 1))) ne--;
        if (colon === -1 || colon >= ce || ne === pos) {
          hc.state = 2; // a line without ':' (or without a name) is skipped, with its continuations
        } else {
          let s = colon + 1;
          let e = ce;
          while (s < e && isWs(t.charCodeAt(s))) s++;
          while (e > s && isWs(t.charCodeAt(e - 1))) e--;
          hc.rawName = text(pos, ne);
          hc.value = e > s ? text(s, e) : '';
          hc.bytes = lineBytes;
          hc.state = 1;
        }
      }
    }
    pos = lf === -1 ? len : lf + 1;
  }
  hc.flush();

  const cl = hc.contentLength;
  const body = cl >= 0 && cl <= len - bodyStart ? buf.subarray(bodyStart, bodyStart + cl) : buf.subarray(bodyStart);

  const msg: SipRequest = {
    method,
    requestUri,
    sipVersion,
    headers: hc.headers,
    body,
    raw: buf,
    rawIsUtf8: ascii || isUtf8(buf),
    text: ascii ? t : null,
    budgetExceeded: hc.budgetExceeded,
  };
  return { ok: true, msg };
}

/** Content-Length value → non-negative integer, or -1 when not a plain decimal (then the body runs to the end). */
export function parseContentLength(value: string): number {
  const n = value.length;
  if (n === 0 || n > 15) return -1;
  let r = 0;
  for (let k = 0; k < n; k++) {
    const c = value.charCodeAt(k) - 0x30;
    if (c < 0 || c > 9) return -1;
    r = r * 10 + c;
  }
  return r;
}
