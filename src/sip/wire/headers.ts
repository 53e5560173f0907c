/**
 * Header access and small, lenient parsers for SIP header values (name-addr, URIs, Via). All functions are
 * pure and total: malformed input yields `null` or partial results, never an exception.
 */
import { canonicalHeaderName } from './parse.js';
import type { SipRequest } from './types.js';
import { percentDecode } from '../../text/percent.js';

export { percentDecode };

/** Header/URI parameters: lowercase names → value (`''` for a flag parameter such as `rport`). First wins. */
export type SipParams = Map<string, string>;

/** A parsed `name-addr` / `addr-spec` (From, To, Contact, …). */
export interface NameAddr {
  /** Display name (quotes removed, `\"` unescaped), or null. */
  displayName: string | null;
  /** The URI: inside `<…>` if present, else the addr-spec up to the first `;`. */
  uri: string;
  /** Header parameters after the URI (e.g. `tag`). */
  params: SipParams;
}

/** A parsed `sip:`/`sips:`/`tel:` URI. */
export interface SipUri {
  /** Lowercase scheme: `sip`, `sips` or `tel`. */
  scheme: 'sip' | 'sips' | 'tel';
  /** Userinfo exactly as written (before `@` for sip/sips, including `;user-params` and `:password`; for
   * `tel:` the whole subscriber text including parameters), or null when there is none. */
  userinfo: string | null;
  /** User: `;params` and `:password` removed, percent-decoded as UTF-8 (U+FFFD for bad bytes); null if empty. */
  user: string | null;
  /** Password as written (deprecated `user:password` form), or null. */
  password: string | null;
  /** Host as written (IPv6 references keep their brackets; nmap-style unbracketed IPv6 is kept whole). */
  host: string;
  /** Port, or null. */
  port: number | null;
  /** URI parameters after the host part. */
  params: SipParams;
}

/** A parsed Via entry. */
export interface Via {
  /** e.g. `SIP/2.0/UDP` (whitespace around `/` removed). */
  protocol: string;
  /** Uppercase transport, e.g. `UDP`. */
  transport: string;
  /** sent-by host as written (IPv6 in brackets when it was). */
  host: string;
  /** sent-by port, or null. */
  port: number | null;
  /** Via parameters (`branch`, `rport`, `received`, …). */
  params: SipParams;
}

/** Value of the first header named `name` (any case, compact forms accepted), or null. */
export function getHeader(msg: Pick<SipRequest, 'headers'>, name: string): string | null {
  const want = canonicalHeaderName(name);
  const hs = msg.headers;
  for (let i = 0; i < hs.length; i++) if (hs[i]!.name === want) return hs[i]!.value;
  return null;
}

/** Values of every header named `name`, in order. */
export function getHeaders(msg: Pick<SipRequest, 'headers'>, name: string): string[] {
  const want = canonicalHeaderName(name);
  const out: string[] = [];
  for (const h of msg.headers) if (h.name === want) out.push(h.value);
  return out;
}

/** Parameter value (name case-insensitive): `''` for a flag parameter, null when absent. */
export function getParam(params: SipParams, name: string): string | null {
  return params.get(name.toLowerCase()) ?? null;
}

/**
 * Splits a comma-separated header value (`Via: a, b`) at commas outside quoted strings and `<…>`.
 * Empty elements are dropped; elements are trimmed of SP/HT.
 */
export function splitHeaderList(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  let inQuote = false;
  let inAngle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (inQuote) {
      if (c === 0x5c) i++; // backslash escape
      else if (c === 0x22) inQuote = false;
    } else if (c === 0x22) inQuote = true;
    else if (c === 0x3c) inAngle = true;
    else if (c === 0x3e) inAngle = false;
    else if (c === 0x2c && !inAngle) {
      const part = trimWs(value.slice(start, i));
      if (part.length > 0) out.push(part);
      start = i + 1;
    }
  }
  const last = trimWs(value.slice(start));
  if (last.length > 0) out.push(last);
  return out;
}

/** Every Via entry of the message in order (top first), comma-separated entries split. */
export function getViaList(msg: Pick<SipRequest, 'headers'>): string[] {
  const out: string[] = [];
  for (const h of msg.headers) if (h.name === 'via') for (const v of splitHeaderList(h.value)) out.push(v);
  return out;
}

/**
 * The content of a quoted string starting just after its opening quote: backslash escapes resolved, `end` at the
 * closing quote (or the string's length when unterminated). Sliced in runs, never built a character at a time.
 */
export function readQuoted(s: string, from: number): { value: string; end: number } {
  const n = s.length;
  let i = from;
  let start = from;
  let parts: string[] | null = null;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 0x22) break;
    if (c === 0x5c && i + 1 < n) {
      (parts ??= []).push(s.slice(start, i));
      start = i + 1;
      i += 2;
    } else {
      i++;
    }
  }
  const tail = s.slice(start, i);
  return { value: parts === null ? tail : parts.join('') + tail, end: i };
}

/** Trims SP and HT only (not CR, NUL or Unicode spaces). */
export function trimWs(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/**
 * Parses `;name=value;flag` parameters starting at `s[from]` (which may be `;` or the first name).
 * Quoted values are unquoted. Names are lowercased; the first occurrence wins.
 */
export function parseParams(s: string, from = 0): SipParams {
  const params: SipParams = new Map();
  let i = from;
  const n = s.length;
  while (i < n) {
    while (i < n && (s[i] === ';' || s[i] === ' ' || s[i] === '\t')) i++;
    if (i >= n) break;
    const nameStart = i;
    while (i < n && s[i] !== '=' && s[i] !== ';') i++;
    const name = trimWs(s.slice(nameStart, i)).toLowerCase();
    let value = '';
    if (i < n && s[i] === '=') {
      i++;
      while (i < n && (s[i] === ' ' || s[i] === '\t')) i++;
      if (i < n && s[i] === '"') {
        const q = readQuoted(s, i + 1);
        value = q.value;
        i = q.end + 1; // closing quote (or past the end)
        while (i < n && s[i] !== ';') i++;
      } else {
        const vs = i;
        while (i < n && s[i] !== ';') i++;
        value = trimWs(s.slice(vs, i));
      }
    }
    if (name.length > 0 && !params.has(name)) params.set(name, value);
  }
  return params;
}

/**
 * Parses a `name-addr` or `addr-spec` header value (From/To/Contact). The URI is the one in `<…>` that follows
 * any quoted display name (so `"x <sip:999@a>" <sip:102@b>` gives `sip:102@b`); without `<…>` it is the
 * addr-spec up to the first `;`. Returns null for an empty value.
 */
export function parseNameAddr(value: string): NameAddr | null {
  const s = value;
  const n = s.length;
  let i = 0;
  while (i < n && (s[i] === ' ' || s[i] === '\t')) i++;
  if (i >= n) return null;
  let displayName: string | null = null;
  if (s[i] === '"') {
    const q = readQuoted(s, i + 1);
    const d = q.value;
    i = q.end;
    if (i >= n) return { displayName: d, uri: '', params: new Map() }; // unterminated quote: no URI
    i++;
    displayName = d;
    const lt = s.indexOf('<', i);
    if (lt === -1) {
      // `"name" sip:x` (invalid) — take what follows as an addr-spec.
      return addrSpec(s, i, displayName);
    }
    return angle(s, lt, displayName);
  }
  const lt = s.indexOf('<', i);
  if (lt === -1) return addrSpec(s, i, null);
  const dn = trimWs(s.slice(i, lt));
  return angle(s, lt, dn.length > 0 ? dn : null);
}

/**
 * Just the URI of a name-addr/addr-spec (same rules as {@link parseNameAddr}, without building parameters):
 * the hot path of field extraction. Null when there is none.
 */
export function nameAddrUri(value: string): string | null {
  const n = value.length;
  let i = 0;
  while (i < n && (value.charCodeAt(i) === 32 || value.charCodeAt(i) === 9)) i++;
  if (i >= n) return null;
  if (value.charCodeAt(i) === 0x22) {
    // Skip the quoted display name, honouring backslash escapes.
    i++;
    while (i < n && value.charCodeAt(i) !== 0x22) i += value.charCodeAt(i) === 0x5c ? 2 : 1;
    if (i >= n) return null;
    i++;
  }
  const lt = value.indexOf('<', i);
  let uri: string;
  if (lt === -1) {
    const semi = value.indexOf(';', i);
    uri = trimWs(value.slice(i, semi === -1 ? n : semi));
  } else {
    const gt = value.indexOf('>', lt + 1);
    uri = trimWs(value.slice(lt + 1, gt === -1 ? n : gt));
  }
  return uri.length > 0 ? uri : null;
}

function angle(s: string, lt: number, displayName: string | null): NameAddr {
  const gt = s.indexOf('>', lt + 1);
  const uri = trimWs(s.slice(lt + 1, gt === -1 ? s.length : gt));
  const params = gt === -1 ? new Map<string, string>() : parseParams(s, gt + 1);
  return { displayName, uri, params };
}

function addrSpec(s: string, from: number, displayName: string | null): NameAddr {
  const semi = s.indexOf(';', from);
  const uri = trimWs(s.slice(from, semi === -1 ? s.length : semi));
  const params = semi === -1 ? new Map<string, string>() : parseParams(s, semi);
  return { displayName, uri, params };
}

/**
 * Parses a `sip:`, `sips:` (scheme case-insensitive) or `tel:` URI; null for other schemes or no scheme.
 * For `tel:` the user is the number before the first `;` (visual separators and `+` kept).
 */
export function parseUri(uri: string): SipUri | null {
  const u = uriUser(uri);
  if (u === null) return null;
  const colon = uri.indexOf(':');
  const rest = uri.slice(colon + 1);
  if (u.scheme === 'tel') {
    const semi = rest.indexOf(';');
    return { ...u, password: null, host: '', port: null, params: semi === -1 ? new Map() : parseParams(rest, semi) };
  }
  let password: string | null = null;
  const ui = u.userinfo;
  if (ui !== null) {
    const pc = ui.indexOf(':');
    if (pc !== -1) {
      const semiAfter = ui.indexOf(';', pc + 1);
      password = ui.slice(pc + 1, semiAfter === -1 ? ui.length : semiAfter);
    }
  }
  const hostPart = ui === null ? rest : rest.slice(ui.length + 1);
  // host[:port] up to ';' (params) or '?' (headers).
  let hpEnd = hostPart.length;
  for (let k = 0; k < hostPart.length; k++) {
    const c = hostPart.charCodeAt(k);
    if (c === 0x3b || c === 0x3f) { hpEnd = k; break; }
  }
  const { host, port } = splitHostPort(hostPart.slice(0, hpEnd));
  let params: SipParams = new Map();
  if (hpEnd < hostPart.length && hostPart.charCodeAt(hpEnd) === 0x3b) {
    const q = hostPart.indexOf('?', hpEnd);
    params = parseParams(q === -1 ? hostPart : hostPart.slice(0, q), hpEnd);
  }
  return { scheme: u.scheme, userinfo: ui, user: u.user, password, host, port, params };
}

/** The user-related part of {@link parseUri} (scheme, raw userinfo, decoded user), without host or params. */
export function uriUser(uri: string): Pick<SipUri, 'scheme' | 'userinfo' | 'user'> | null {
  const colon = uri.indexOf(':');
  if (colon < 3 || colon > 4) return null;
  const scheme = uri.slice(0, colon).toLowerCase();
  if (scheme === 'tel') {
    const rest = uri.slice(colon + 1);
    const semi = rest.indexOf(';');
    const user = percentDecode(semi === -1 ? rest : rest.slice(0, semi));
    return { scheme: 'tel', userinfo: rest.length > 0 ? rest : null, user: user.length > 0 ? user : null };
  }
  if (scheme !== 'sip' && scheme !== 'sips') return null;
  const at = uri.indexOf('@', colon + 1);
  if (at === -1) return { scheme, userinfo: null, user: null };
  const userinfo = uri.slice(colon + 1, at);
  // user = userinfo up to the first ';' (user-params) or ':' (password), percent-decoded.
  let cut = userinfo.length;
  for (let k = 0; k < userinfo.length; k++) {
    const c = userinfo.charCodeAt(k);
    if (c === 0x3b || c === 0x3a) { cut = k; break; }
  }
  const user = percentDecode(cut === userinfo.length ? userinfo : userinfo.slice(0, cut));
  return { scheme, userinfo, user: user.length > 0 ? user : null };
}

/** Value of the `branch` parameter of the first Via entry in a Via header value, or null (hot path). */
export function topViaBranch(viaValue: string): string | null {
  const comma = viaValue.indexOf(',');
  const top = comma === -1 ? viaValue : viaValue.slice(0, comma);
  let i = top.indexOf(';');
  while (i !== -1) {
    const next = top.indexOf(';', i + 1);
    const p = trimWs(top.slice(i + 1, next === -1 ? top.length : next));
    const eq = p.indexOf('=');
    if (eq !== -1 && trimWs(p.slice(0, eq)).toLowerCase() === 'branch') {
      const v = trimWs(p.slice(eq + 1));
      return v.length > 0 ? v : null;
    }
    i = next;
  }
  return null;
}

/** Splits `host[:port]`; handles `[v6]:port` and nmap-style unbracketed IPv6 (`::1`, no port). */
export function splitHostPort(hp: string): { host: string; port: number | null } {
  const s = trimWs(hp);
  if (s.startsWith('[')) {
    const rb = s.indexOf(']');
    if (rb === -1) return { host: s, port: null };
    const host = s.slice(0, rb + 1);
    const after = s.slice(rb + 1);
    return { host, port: after.startsWith(':') ? parsePort(after.slice(1)) : null };
  }
  const first = s.indexOf(':');
  if (first === -1) return { host: s, port: null };
  if (s.indexOf(':', first + 1) !== -1) return { host: s, port: null }; // unbracketed IPv6
  return { host: s.slice(0, first), port: parsePort(s.slice(first + 1)) };
}

function parsePort(s: string): number | null {
  const t = trimWs(s);
  if (!/^[0-9]{1,5}$/.test(t)) return null;
  const n = Number(t);
  return n <= 65535 ? n : null;
}

/**
 * Parses one Via entry (pass the top one, e.g. `getViaList(msg)[0]`; a header value holding several
 * comma-separated entries is cut at the first). Null when it is not `proto/version/transport sent-by`.
 */
export function parseVia(value: string): Via | null {
  const first = splitHeaderList(value)[0];
  if (first === undefined) return null;
  const semi = first.indexOf(';');
  const head = semi === -1 ? first : first.slice(0, semi);
  const m = splitViaHead(head);
  if (m === null) return null;
  const { host, port } = splitHostPort(m.sentBy);
  if (host.length === 0) return null;
  const transport = m.transport.toUpperCase();
  return {
    protocol: `${m.name}/${m.version}/${m.transport}`,
    transport,
    host,
    port,
    params: semi === -1 ? new Map() : parseParams(first, semi),
  };
}

/** The parts of a Via entry before its parameters: `name / version / transport SP sent-by`. */
export interface ViaHead {
  name: string;
  version: string;
  transport: string;
  /** Trailing SP/HT removed; may be empty. */
  sentBy: string;
}

function isSpHt(c: number): boolean {
  return c === 32 || c === 9;
}

/** A token of the protocol triple: one or more characters other than SP, HT and `/`. */
function protoToken(s: string, from: number): number {
  let i = from;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 9 || c === 0x2f) break;
    i++;
  }
  return i;
}

/**
 * Splits the part of a Via entry before its first `;` into the protocol triple and the sent-by, by one forward
 * scan (linear in the input whatever it holds). Null when it is not `token / token / token SP+ rest`, or when
 * the sent-by holds a line terminator (CR, LF, U+2028, U+2029): such an entry is not echoed as a Via.
 */
export function splitViaHead(head: string): ViaHead | null {
  const n = head.length;
  let i = 0;
  const parts: string[] = [];
  for (let k = 0; k < 3; k++) {
    while (i < n && isSpHt(head.charCodeAt(i))) i++;
    if (k > 0) {
      if (head.charCodeAt(i) !== 0x2f) return null;
      i++;
      while (i < n && isSpHt(head.charCodeAt(i))) i++;
    }
    const end = protoToken(head, i);
    if (end === i) return null;
    parts.push(head.slice(i, end));
    i = end;
  }
  if (i >= n || !isSpHt(head.charCodeAt(i))) return null;
  while (i < n && isSpHt(head.charCodeAt(i))) i++;
  let end = n;
  while (end > i && isSpHt(head.charCodeAt(end - 1))) end--;
  for (let k = i; k < end; k++) {
    const c = head.charCodeAt(k);
    if (c === 10 || c === 13 || c === 0x2028 || c === 0x2029) return null;
  }
  return { name: parts[0]!, version: parts[1]!, transport: parts[2]!, sentBy: head.slice(i, end) };
}
