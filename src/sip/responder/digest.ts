/**
 * HTTP digest helpers for SIP (RFC 2617 / RFC 3261 §22.4): lenient parsing of `Authorization` /
 * `Proxy-Authorization` values and MD5 response computation. Pure and total: never throws.
 */
import { createHash } from 'node:crypto';

/** Digest parameters we keep, lowercase names. */
export const DIGEST_PARAMS = ['username', 'realm', 'nonce', 'uri', 'response', 'algorithm', 'qop', 'nc', 'cnonce', 'opaque'] as const;
export type DigestParamName = (typeof DIGEST_PARAMS)[number];

/** A parsed credentials header: the scheme token and every `name=value` parameter (names lowercased). */
export interface ParsedAuthHeader {
  scheme: string;
  params: Map<string, string>;
}

function isWs(c: number): boolean {
  return c === 32 || c === 9;
}

/**
 * Parses `Digest k=v, k="v", …` in any order, quoted or not, with whitespace around `=` and `,`.
 * Quoted strings honour backslash escapes; an unterminated quote runs to the end. First occurrence wins.
 * One forward scan over character codes (linear whatever the input; values are sliced, never built a
 * character at a time).
 */
export function parseAuthHeader(value: string): ParsedAuthHeader {
  const s = value;
  const n = s.length;
  let i = 0;
  while (i < n && isWs(s.charCodeAt(i))) i++;
  const schemeStart = i;
  while (i < n && !isWs(s.charCodeAt(i)) && s.charCodeAt(i) !== 0x2c) i++;
  const scheme = s.slice(schemeStart, i);
  const params = new Map<string, string>();
  while (i < n) {
    while (i < n && (isWs(s.charCodeAt(i)) || s.charCodeAt(i) === 0x2c)) i++;
    if (i >= n) break;
    const nameStart = i;
    for (let c = s.charCodeAt(i); i < n && c !== 0x3d && c !== 0x2c && !isWs(c); c = s.charCodeAt(++i));
    const nameEnd = i;
    while (i < n && isWs(s.charCodeAt(i))) i++;
    if (s.charCodeAt(i) !== 0x3d) {
      // A bare token (or garbage): skip to the next comma.
      while (i < n && s.charCodeAt(i) !== 0x2c) i++;
      continue;
    }
    i++;
    while (i < n && isWs(s.charCodeAt(i))) i++;
    let v: string;
    if (s.charCodeAt(i) === 0x22) {
      i++;
      let parts: string[] | null = null;
      let from = i;
      while (i < n && s.charCodeAt(i) !== 0x22) {
        if (s.charCodeAt(i) === 0x5c && i + 1 < n) {
          // Drop the backslash, keep the escaped character.
          (parts ??= []).push(s.slice(from, i));
          from = i + 1;
          i += 2;
        } else {
          i++;
        }
      }
      const tail = s.slice(from, Math.min(i, n));
      v = parts === null ? tail : parts.join('') + tail;
      i++;
      while (i < n && s.charCodeAt(i) !== 0x2c) i++;
    } else {
      const vs = i;
      while (i < n && s.charCodeAt(i) !== 0x2c) i++;
      // Trailing SP/HT trimmed by an index scan (a `/[ \t]+$/` replace is quadratic on a long inner run).
      let ve = i;
      while (ve > vs && isWs(s.charCodeAt(ve - 1))) ve--;
      v = s.slice(vs, ve);
    }
    if (nameEnd > nameStart) {
      const name = s.slice(nameStart, nameEnd).toLowerCase();
      if (!params.has(name)) params.set(name, v);
    }
  }
  return { scheme, params };
}

/** Lowercase hex MD5 of a UTF-8 string. */
export function md5hex(s: string): string {
  return createHash('md5').update(s, 'utf8').digest('hex');
}

/** The inputs of a digest response check. */
export interface DigestInput {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  method: string;
  nc: string | null;
  cnonce: string | null;
  qop: string | null;
}

/**
 * True when `response` equals the MD5 digest computed with `password`, in either the qop=auth form
 * (when nc and cnonce are present) or the RFC 2069 form (the responder rules: svcrack announces `qop=auth` but sends
 * neither; some clients send nc/cnonce yet compute the RFC 2069 form).
 */
export function digestMatches(d: DigestInput, password: string): boolean {
  const want = d.response.toLowerCase();
  const ha1 = md5hex(`${d.username}:${d.realm}:${password}`);
  const ha2 = md5hex(`${d.method}:${d.uri}`);
  if (d.nc !== null && d.cnonce !== null) {
    const qop = d.qop !== null && d.qop.length > 0 ? d.qop : 'auth';
    if (md5hex(`${ha1}:${d.nonce}:${d.nc}:${d.cnonce}:${qop}:${ha2}`) === want) return true;
  }
  return md5hex(`${ha1}:${d.nonce}:${ha2}`) === want;
}
