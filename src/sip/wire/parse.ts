/**
 * Lenient, allocation-light SIP request parser (SPEC §5.2, §5.4). Pure and total: it never throws, whatever the
 * bytes. Works on byte offsets; strings are created only for the request line and for kept header names/values.
 */
import { isUtf8 } from 'node:buffer';
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
const COLON = 58;

/** RFC 3261 `token` characters: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~". */
const TOKEN = new Uint8Array(256);
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
 * Checks that `buf[s, e)` is `SIP/<digits>.<digits>` (scheme case-insensitive).
 * Returns 1 for a full match, 0 for a strict prefix of one (possibly truncated), -1 otherwise.
 */
function matchVersion(buf: Buffer, s: number, e: number): 1 | 0 | -1 {
  const want = [0x53, 0x49, 0x50, 0x2f]; // S I P /
  let i = s;
  for (let k = 0; k < 4; k++, i++) {
    if (i >= e) return 0;
    const b = k === 3 ? buf[i]! : buf[i]! & 0xdf; // letters case-insensitive, '/' exact
    if (b !== want[k]) return -1;
  }
  let d1 = 0;
  while (i < e && buf[i]! >= 0x30 && buf[i]! <= 0x39) { i++; d1++; }
  if (i >= e) return 0;
  if (d1 === 0 || buf[i] !== 0x2e) return -1;
  i++;
  let d2 = 0;
  while (i < e && buf[i]! >= 0x30 && buf[i]! <= 0x39) { i++; d2++; }
  if (i < e) return -1;
  return d2 > 0 ? 1 : 0;
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

function parseUnsafe(buf: Buffer, budgets: ParseBudgets): ParseResult {
  const len = buf.length;
  if (len === 0) return { ok: false, reason: 'empty' };
  if (len > budgets.maxMessageBytes) return { ok: false, reason: 'oversize' };

  // RFC 3261 §7.5: skip CRLFs before the start line.
  let pos = 0;
  while (pos < len && (buf[pos] === CR || buf[pos] === LF)) pos++;
  if (pos === len) return { ok: false, reason: 'empty' };

  // ---- Request line ----
  const lfAt = buf.indexOf(LF, pos);
  const lineEnd = lfAt === -1 ? len : lfAt; // exclusive, before LF
  let contentEnd = lineEnd;
  if (lfAt !== -1 && contentEnd > pos && buf[contentEnd - 1] === CR) contentEnd--;
  while (contentEnd > pos && isWs(buf[contentEnd - 1]!)) contentEnd--;
  const terminated = lfAt !== -1;

  // A status line (`SIP/2.0 404 …`) is a response, not a request.
  if (len - pos >= 4 && (buf[pos]! & 0xdf) === 0x53 && (buf[pos + 1]! & 0xdf) === 0x49 && (buf[pos + 2]! & 0xdf) === 0x50
    && buf[pos + 3] === 0x2f) {
    return { ok: false, reason: 'response' };
  }

  // METHOD
  let i = pos;
  while (i < contentEnd && TOKEN[buf[i]!] === 1) i++;
  const methodEnd = i;
  if (methodEnd === pos) return { ok: false, reason: 'not_sip' };
  if (i === contentEnd) return { ok: false, reason: terminated ? 'not_sip' : 'truncated' };
  if (!isWs(buf[i]!)) return { ok: false, reason: 'not_sip' };
  while (i < contentEnd && isWs(buf[i]!)) i++;
  // Request-URI: any run of non-whitespace, non-control bytes.
  const uriStart = i;
  while (i < contentEnd && buf[i]! > SP && buf[i] !== 0x7f) i++;
  const uriEnd = i;
  if (uriEnd === uriStart) return { ok: false, reason: terminated ? 'not_sip' : 'truncated' };
  if (i === contentEnd) return { ok: false, reason: terminated ? 'not_sip' : 'truncated' };
  if (!isWs(buf[i]!)) return { ok: false, reason: 'not_sip' };
  while (i < contentEnd && isWs(buf[i]!)) i++;
  const verStart = i;
  while (i < contentEnd && !isWs(buf[i]!)) i++;
  const verEnd = i;
  if (verEnd !== contentEnd) return { ok: false, reason: 'not_sip' }; // trailing junk after the version
  const v = matchVersion(buf, verStart, verEnd);
  if (v === -1) return { ok: false, reason: 'not_sip' };
  if (v === 0) return { ok: false, reason: terminated ? 'not_sip' : 'truncated' };

  const method = buf.toString('latin1', pos, methodEnd); // token chars are ASCII
  const requestUri = buf.toString('utf8', uriStart, uriEnd);
  const sipVersion = buf.toString('latin1', verStart, verEnd);

  // ---- Headers ----
  const headers: SipHeader[] = [];
  const budgetExceeded: BudgetName[] = [];
  const maxLine = budgets.maxHeaderLineBytes;
  const maxHeaders = budgets.maxHeaders;
  let bodyStart = len; // unterminated header block → empty body
  let contentLength = -1;

  // Pending logical header (a header line plus its continuation lines).
  let pRawName = '';
  let pValue = '';
  let pBytes = 0;
  /** 0 none, 1 collecting, 2 dropping (over budget / no colon / past the count cap). */
  let pState = 0;

  const flush = (): void => {
    if (pState === 1) {
      if (headers.length >= maxHeaders) {
        if (!budgetExceeded.includes('header_count')) budgetExceeded.push('header_count');
      } else {
        const name = canonicalHeaderName(pRawName);
        headers.push({ rawName: pRawName, name, value: pValue });
        if (contentLength === -1 && name === 'content-length') contentLength = parseContentLength(pValue);
      }
    }
    pState = 0;
  };
  const lineBudget = (): void => {
    if (!budgetExceeded.includes('header_line')) budgetExceeded.push('header_line');
  };

  pos = terminated ? lfAt + 1 : len;
  while (pos < len) {
    const lf = buf.indexOf(LF, pos);
    const end = lf === -1 ? len : lf;
    let ce = end;
    if (lf !== -1 && ce > pos && buf[ce - 1] === CR) ce--;
    if (ce === pos) {
      // Blank line: end of the header block (CRLFCRLF or LFLF).
      if (lf !== -1) {
        bodyStart = lf + 1;
        break;
      }
      // Unterminated trailing CR: nothing more.
      break;
    }
    const lineBytes = ce - pos;
    if (isWs(buf[pos]!)) {
      // Continuation line (obsolete folding).
      if (pState === 1) {
        pBytes += lineBytes;
        if (pBytes > maxLine) {
          lineBudget();
          pState = 2;
        } else {
          let s = pos;
          let e = ce;
          while (s < e && isWs(buf[s]!)) s++;
          while (e > s && isWs(buf[e - 1]!)) e--;
          if (e > s) {
            const part = buf.toString('utf8', s, e);
            pValue = pValue.length === 0 ? part : pValue + ' ' + part;
          }
        }
      }
      // pState 0/2: the continuation belongs to nothing we keep.
    } else {
      flush();
      if (lineBytes > maxLine) {
        lineBudget();
        pState = 2;
      } else {
        const colon = buf.indexOf(COLON, pos);
        if (colon === -1 || colon >= ce) {
          pState = 2; // a line without ':' is skipped, with its continuations
        } else {
          let ne = colon;
          while (ne > pos && isWs(buf[ne - 1]!)) ne--;
          if (ne === pos) {
            pState = 2;
          } else {
            let s = colon + 1;
            let e = ce;
            while (s < e && isWs(buf[s]!)) s++;
            while (e > s && isWs(buf[e - 1]!)) e--;
            pRawName = buf.toString('utf8', pos, ne);
            pValue = e > s ? buf.toString('utf8', s, e) : '';
            pBytes = lineBytes;
            pState = 1;
          }
        }
      }
    }
    pos = lf === -1 ? len : lf + 1;
  }
  flush();

  let body: Buffer;
  if (contentLength >= 0 && contentLength <= len - bodyStart) body = buf.subarray(bodyStart, bodyStart + contentLength);
  else body = buf.subarray(bodyStart);

  const msg: SipRequest = {
    method,
    requestUri,
    sipVersion,
    headers,
    body,
    raw: buf,
    rawIsUtf8: isUtf8(buf),
    budgetExceeded,
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
