/**
 * Building SIP responses from a request (the responder rules layout): status line; every Via in order (the top one with
 * `received`/`rport` per RFC 3261 §18.2.2 and RFC 3581); From, To, Call-ID, CSeq; extra headers (challenge,
 * Contact/Expires); capability headers; Server; `Content-Length: 0`; empty line. Pure.
 */
import { normalizeIp } from '../../net/ip.js';
import { parseNameAddr, splitHeaderList, splitHostPort, splitViaHead } from '../wire/headers.js';
import type { SipRequest } from '../wire/types.js';
import { REASONS } from './profiles.js';

/** The request headers a response copies, prepared once per request. */
export interface ResponseBase {
  /** Via header values in order, the top entry already fixed. */
  vias: string[];
  from: string;
  /** To as received. */
  to: string;
  /** True when the request's To already has a tag (in-dialog request): it is echoed, never replaced. */
  toHasTag: boolean;
  callId: string;
  cseq: string;
}

/** True when a name-addr value carries a non-empty `tag` parameter; cheap rejection when `tag` cannot occur. */
export function hasTag(value: string): boolean {
  if (!/tag/i.test(value)) return false;
  const tag = parseNameAddr(value)?.params.get('tag');
  return tag !== undefined && tag.length > 0;
}

/** Header value we can echo safely: no CR, LF or NUL (they would break the response framing). */
function echoable(v: string | null): v is string {
  return v !== null && v.length > 0 && !/[\r\n\0]/.test(v);
}

/** True when the Via sent-by host is the packet's source address (the capture layer gives it normalised). */
function sameHost(host: string, sourceIp: string): boolean {
  const h = host.length > 1 && host.charCodeAt(0) === 0x5b && host.endsWith(']') ? host.slice(1, -1) : host;
  if (h === sourceIp) return true; // fast path: the common case costs no parsing
  const n = normalizeIp(h);
  return n !== null && n === (normalizeIp(sourceIp) ?? sourceIp);
}

/**
 * The sent-by host of one Via entry (`SIP/2.0/UDP host[:port];params`), IPv6 with its brackets; null when the
 * entry is not a Via. Same answer as `parseVia(entry).host` without building the parameter map (hot path).
 */
export function sentByHost(entry: string): string | null {
  const semi = entry.indexOf(';');
  const head = semi === -1 ? entry : entry.slice(0, semi);
  const m = splitViaHead(head);
  if (m === null) return null;
  const host = splitHostPort(m.sentBy).host;
  return host.length === 0 ? null : host;
}

/**
 * Adds `;received=<ip>` when the sent-by host differs from the packet source or `rport` is present, and fills a
 * bare `rport` with the source port. An unparsable Via is echoed unchanged.
 */
export function fixTopVia(entry: string, sourceIp: string, sourcePort: number): string {
  const host = sentByHost(entry);
  if (host === null) return entry;
  const semi = entry.indexOf(';');
  if (semi === -1) {
    return sameHost(host, sourceIp) ? entry : `${entry};received=${sourceIp}`;
  }
  const head = entry.slice(0, semi);
  const parts = entry.slice(semi + 1).split(';');
  let hasRport = false;
  let receivedAt = -1;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    const eq = p.indexOf('=');
    const name = (eq === -1 ? p : p.slice(0, eq)).trim().toLowerCase();
    if (name === 'rport') {
      hasRport = true;
      if (eq === -1 || p.slice(eq + 1).trim().length === 0) parts[i] = `rport=${sourcePort}`;
    } else if (name === 'received' && receivedAt === -1) {
      receivedAt = i;
    }
  }
  if (hasRport || !sameHost(host, sourceIp)) {
    if (receivedAt !== -1) parts[receivedAt] = `received=${sourceIp}`;
    else parts.push(`received=${sourceIp}`);
  }
  return `${head};${parts.join(';')}`;
}

/** The headers the responder reads, collected in one pass over the request (first occurrence wins). */
export interface RequestView {
  /** Via header values in order. */
  vias: string[];
  from: string | null;
  to: string | null;
  callId: string | null;
  cseq: string | null;
  authorization: string | null;
  proxyAuthorization: string | null;
  contacts: string[];
  expires: string | null;
}

/** One pass over the headers instead of a scan per header name (this runs for every request). */
export function viewRequest(msg: SipRequest): RequestView {
  const v: RequestView = { vias: [], from: null, to: null, callId: null, cseq: null, authorization: null, proxyAuthorization: null, contacts: [], expires: null };
  for (const h of msg.headers) {
    switch (h.name) {
      case 'via': v.vias.push(h.value); break;
      case 'from': v.from ??= h.value; break;
      case 'to': v.to ??= h.value; break;
      case 'call-id': v.callId ??= h.value; break;
      case 'cseq': v.cseq ??= h.value; break;
      case 'authorization': v.authorization ??= h.value; break;
      case 'proxy-authorization': v.proxyAuthorization ??= h.value; break;
      case 'contact': v.contacts.push(h.value); break;
      case 'expires': v.expires ??= h.value; break;
      default: break;
    }
  }
  return v;
}

/**
 * Collects what a response copies. Null when Via, From, To, Call-ID or CSeq is missing, blank or not
 * echoable: then no reply is sent, the request is still an event.
 */
export function responseBase(req: RequestView, sourceIp: string, sourcePort: number): ResponseBase | null {
  const vias: string[] = [];
  for (const value of req.vias) {
    if (!echoable(value)) return null;
    if (vias.length === 0) {
      // Most requests carry one entry per Via header: skip the quote-aware split when there is no comma.
      const entries = value.indexOf(',') === -1 ? [value] : splitHeaderList(value);
      if (entries.length === 0) continue;
      entries[0] = fixTopVia(entries[0]!, sourceIp, sourcePort);
      vias.push(entries.join(', '));
    } else {
      vias.push(value);
    }
  }
  const { from, to, callId, cseq } = req;
  if (vias.length === 0 || !echoable(from) || !echoable(to) || !echoable(callId) || !echoable(cseq)) return null;
  return { vias, from, to, toHasTag: hasTag(to), callId, cseq };
}

/** One response to build. */
export interface ResponseSpec {
  status: number;
  /** Our To-tag; null for `100 Trying` (the responder rules: none on 100). Ignored when the request's To has a tag. */
  toTag: string | null;
  /** Headers in the challenge slot (after CSeq): `WWW-Authenticate`, `Contact`, `Expires`, … */
  extra?: ReadonlyArray<readonly [string, string]>;
  /** Capability headers (OPTIONS 200). */
  capabilities?: ReadonlyArray<readonly [string, string]>;
  server: string;
}

/** Capability blocks are constant per list: serialise each once. */
const tailCache = new WeakMap<ReadonlyArray<readonly [string, string]>, string>();
function headerBlock(list: ReadonlyArray<readonly [string, string]>): string {
  let s = tailCache.get(list);
  if (s === undefined) {
    s = '';
    for (const [k, v] of list) s += `${k}: ${v}\r\n`;
    tailCache.set(list, s);
  }
  return s;
}

/** Echoed text (UTF-16 units) above which a base's replies are built from pieces encoded once (see below). */
const LARGE_ECHO_UNITS = 2048;

/**
 * True when the echoed headers of a base are long (an oversized or hostile request): its replies are then sized
 * before being built, and built from pieces encoded once. An ordinary request's replies are cheaper to build
 * whole and measure afterwards.
 */
export function largeEcho(base: ResponseBase): boolean {
  let n = base.from.length + base.to.length + base.callId.length + base.cseq.length;
  for (const v of base.vias) n += v.length;
  return n > LARGE_ECHO_UNITS;
}

/** UTF-8 bytes of the echoed headers of a base (Via…CSeq lines without To), computed once per base. */
const echoedBytes = new WeakMap<ResponseBase, number>();
function echoedLength(base: ResponseBase): number {
  let n = echoedBytes.get(base);
  if (n === undefined) {
    n = 0;
    for (const v of base.vias) n += 7 + Buffer.byteLength(v, 'utf8'); // "Via: " + value + CRLF
    n += 8 + Buffer.byteLength(base.from, 'utf8'); // "From: " + CRLF
    n += 6 + Buffer.byteLength(base.to, 'utf8'); // "To: " + CRLF
    n += 11 + Buffer.byteLength(base.callId, 'utf8'); // "Call-ID: " + CRLF
    n += 8 + Buffer.byteLength(base.cseq, 'utf8'); // "CSeq: " + CRLF
    echoedBytes.set(base, n);
  }
  return n;
}

/**
 * The exact byte length {@link buildResponse} would produce, without building it: the reflection bound and the
 * datagram limit are checked first, so a 64 KiB request's echo that will not be sent is never serialised.
 */
export function responseByteLength(base: ResponseBase, spec: ResponseSpec): number {
  let n = Buffer.byteLength(`SIP/2.0 ${spec.status} ${REASONS[spec.status] ?? 'Unknown'}\r\n`, 'utf8') + echoedLength(base);
  if (spec.toTag !== null && !base.toHasTag) n += 5 + Buffer.byteLength(spec.toTag, 'utf8'); // ";tag=" + tag
  if (spec.extra) for (const [k, v] of spec.extra) n += Buffer.byteLength(`${k}: ${v}\r\n`, 'utf8');
  if (spec.capabilities) n += Buffer.byteLength(headerBlock(spec.capabilities), 'utf8');
  return n + Buffer.byteLength(`Server: ${spec.server}\r\nContent-Length: 0\r\n\r\n`, 'utf8');
}

/** The echoed headers of a base, UTF-8 encoded once: `head` is Via…From plus `To: <value>`, `tail` Call-ID and CSeq. */
interface EncodedEcho {
  head: Buffer;
  tail: Buffer;
}
const encodedEchoes = new WeakMap<ResponseBase, EncodedEcho>();
function encodedEcho(base: ResponseBase): EncodedEcho {
  let e = encodedEchoes.get(base);
  if (e === undefined) {
    let head = '';
    for (const v of base.vias) head += `Via: ${v}\r\n`;
    e = {
      head: Buffer.from(`${head}From: ${base.from}\r\nTo: ${base.to}`, 'utf8'),
      tail: Buffer.from(`\r\nCall-ID: ${base.callId}\r\nCSeq: ${base.cseq}\r\n`, 'utf8'),
    };
    encodedEchoes.set(base, e);
  }
  return e;
}

/**
 * Serialises a response with full header names and CRLF line ends. The echoed headers (up to a 64 KiB request's
 * worth) are encoded once per request and copied into each response of its transaction (100 Trying, the
 * challenge or final, retransmissions); every piece starts and ends with ASCII, so the bytes equal those of
 * encoding the whole text at once.
 */
export function buildResponse(base: ResponseBase, spec: ResponseSpec): Buffer {
  if (!largeEcho(base)) {
    // An ordinary request: one string, one encoding (fewer allocations than the pieces below).
    let out = `SIP/2.0 ${spec.status} ${REASONS[spec.status] ?? 'Unknown'}\r\n`;
    for (const v of base.vias) out += `Via: ${v}\r\n`;
    out += `From: ${base.from}\r\nTo: ${spec.toTag !== null && !base.toHasTag ? `${base.to};tag=${spec.toTag}` : base.to}\r\nCall-ID: ${base.callId}\r\nCSeq: ${base.cseq}\r\n`;
    if (spec.extra) for (const [k, v] of spec.extra) out += `${k}: ${v}\r\n`;
    if (spec.capabilities) out += headerBlock(spec.capabilities);
    out += `Server: ${spec.server}\r\nContent-Length: 0\r\n\r\n`;
    return Buffer.from(out, 'utf8');
  }
  const echo = encodedEcho(base);
  const status = Buffer.from(`SIP/2.0 ${spec.status} ${REASONS[spec.status] ?? 'Unknown'}\r\n`, 'utf8');
  const parts: Buffer[] = [status, echo.head];
  if (spec.toTag !== null && !base.toHasTag) parts.push(Buffer.from(`;tag=${spec.toTag}`, 'utf8'));
  parts.push(echo.tail);
  let rest = '';
  if (spec.extra) for (const [k, v] of spec.extra) rest += `${k}: ${v}\r\n`;
  if (spec.capabilities) rest += headerBlock(spec.capabilities);
  rest += `Server: ${spec.server}\r\nContent-Length: 0\r\n\r\n`;
  parts.push(Buffer.from(rest, 'utf8'));
  return Buffer.concat(parts);
}
