/**
 * The one escaping rule for attacker text in every human-facing output (syslog lines, the JSON log, operational
 * log lines on stderr, stored user agent and URI users, dashboards): a character a terminal, log viewer or
 * editor could act on, or that hides or reorders text, never reaches them raw. Escaped:
 * - C0 controls (U+0000–U+001F), DEL (U+007F) and C1 controls (U+0080–U+009F, NEL and CSI included);
 * - the line and paragraph separators U+2028 and U+2029;
 * - every format character (Unicode category Cf): the bidirectional controls U+202A–U+202E and U+2066–U+2069,
 *   zero-width characters, the BOM, tag characters, …;
 * - unpaired UTF-16 surrogates (not text).
 * Everything else, printable ASCII in particular, is kept as is, so ordinary records are unchanged.
 *
 * Linear by construction: one forward scan, no regular expression over the input.
 */

/** How escaped characters are written. */
export type EscapeForm =
  /**
   * Plain text (syslog, stored columns, human lines): `\xHH` up to U+00FF, `\uHHHH`, `\u{HHHHH}` above the BMP.
   * A backslash itself is kept, so escaping twice changes nothing.
   */
  | 'text'
  /**
   * Inside serialised JSON: `\u00HH` / `\uHHHH` JSON escapes (surrogate pairs above the BMP), so a JSON reader
   * gets the original string back while the line itself holds only safe characters. Apply it to the output of
   * `JSON.stringify` (which already escapes C0, quotes and backslashes); structural JSON is ASCII, untouched.
   */
  | 'json';

/** Category Cf over the BMP, built once on first use by one pass of `\p{Cf}` over every BMP character. */
let cfTable: Uint8Array | null = null;
const CF = /^\p{Cf}$/u;

function bmpFormatTable(): Uint8Array {
  if (cfTable === null) {
    const t = new Uint8Array(0x10000);
    const codes = new Uint16Array(0x10000 - 0x80 - 0x800);
    let k = 0;
    for (let cp = 0x80; cp < 0x10000; cp++) if (cp < 0xd800 || cp > 0xdfff) codes[k++] = cp;
    const all = new TextDecoder('utf-16le').decode(codes);
    const cf = /\p{Cf}/gu;
    for (let m = cf.exec(all); m !== null; m = cf.exec(all)) t[m[0].charCodeAt(0)] = 1;
    cfTable = t;
  }
  return cfTable;
}

/** True for a code point the rule above escapes (astral ones: tag characters and other Cf). */
export function isUnsafeCodePoint(cp: number): boolean {
  if (cp < 0x20 || cp === 0x7f) return true;
  if (cp < 0x80) return false;
  if (cp <= 0x9f || cp === 0x2028 || cp === 0x2029) return true;
  if (cp >= 0xd800 && cp <= 0xdfff) return true; // reached only for an unpaired surrogate
  if (cp < 0x10000) return bmpFormatTable()[cp] === 1;
  return CF.test(String.fromCodePoint(cp));
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** Escapes of BMP code points, computed once each (a hostile 64 KiB run repeats the same few characters). */
const textCache: Array<string | undefined> = [];
const jsonCache: Array<string | undefined> = [];

function escapeOne(cp: number, form: EscapeForm): string {
  if (cp < 0x10000) {
    const cache = form === 'json' ? jsonCache : textCache;
    return (cache[cp] ??= computeEscape(cp, form));
  }
  return computeEscape(cp, form);
}

function computeEscape(cp: number, form: EscapeForm): string {
  if (form === 'json') {
    if (cp < 0x10000) return '\\u' + hex(cp, 4);
    const v = cp - 0x10000;
    return '\\u' + hex(0xd800 + (v >> 10), 4) + '\\u' + hex(0xdc00 + (v & 0x3ff), 4);
  }
  if (cp <= 0xff) return '\\x' + hex(cp, 2);
  if (cp < 0x10000) return '\\u' + hex(cp, 4);
  return '\\u{' + cp.toString(16) + '}';
}

/**
 * Escapes attacker-controlled text for a human-facing output (see the module comment for the rule). `form`
 * picks plain-text escapes (default) or JSON escapes for already serialised JSON. Returns the input itself when
 * nothing needs escaping.
 */
export function escapeAttackerText(s: string, form: EscapeForm = 'text'): string {
  const n = s.length;
  let i = 0;
  // Fast path: printable ASCII (the common case) is returned without building anything.
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f) break;
    i++;
  }
  if (i === n) return s;
  const parts: string[] = [];
  let from = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f) {
      i++;
      continue;
    }
    let cp = c;
    let width = 1;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        width = 2;
      }
    }
    if (isUnsafeCodePoint(cp)) {
      if (from < i) parts.push(s.slice(from, i));
      parts.push(escapeOne(cp, form));
      from = i + width;
    }
    i += width;
  }
  if (parts.length === 0) return s;
  if (from < n) parts.push(s.slice(from));
  return parts.join('');
}
