/**
 * Pure IP utilities shared by configuration, capture, API and P2P: canonical IP text, `A:P` endpoints,
 * CIDRs and a fast allow-list matcher. No I/O, no state beyond what callers build.
 */
import { isIP } from 'node:net';
import type { Endpoint } from '../lifecycle.js';
import { ERROR_CODES, SipwardenError } from '../errors.js';

/** Parses an IPv4 dotted quad (already validated by isIP) into 4 bytes. */
function v4Bytes(text: string): Uint8Array {
  const out = new Uint8Array(4);
  const parts = text.split('.');
  for (let i = 0; i < 4; i++) out[i] = Number(parts[i]);
  return out;
}

/** Parses an IPv6 literal (already validated by isIP, zone removed) into 16 bytes. */
function v6Bytes(text: string): Uint8Array {
  const out = new Uint8Array(16);
  let s = text;
  // An embedded IPv4 tail (`::ffff:1.2.3.4`) occupies the last two groups.
  let tail: Uint8Array | null = null;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) >= 0) {
    tail = v4Bytes(s.slice(lastColon + 1));
    s = s.slice(0, lastColon + 1) + '0:0';
  }
  const dbl = s.indexOf('::');
  let head: string[];
  let rest: string[];
  if (dbl >= 0) {
    const a = s.slice(0, dbl);
    const b = s.slice(dbl + 2);
    head = a === '' ? [] : a.split(':');
    rest = b === '' ? [] : b.split(':');
  } else {
    head = s.split(':');
    rest = [];
  }
  const groups: number[] = new Array<number>(8).fill(0);
  head.forEach((g, i) => (groups[i] = parseInt(g, 16)));
  rest.forEach((g, i) => (groups[8 - rest.length + i] = parseInt(g, 16)));
  for (let i = 0; i < 8; i++) {
    out[i * 2] = groups[i]! >> 8;
    out[i * 2 + 1] = groups[i]! & 0xff;
  }
  if (tail) out.set(tail, 12);
  return out;
}

/** True when 16 bytes are an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`). */
function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** Formats 16 bytes in RFC 5952 canonical form (lowercase, no leading zeros, longest zero run as `::`). */
function formatV6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[i * 2]! << 8) | b[i * 2 + 1]!);
  // Longest run of >= 2 zero groups; the first one wins a tie (RFC 5952 §4.2.3).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** Strips `[...]` brackets and a `%zone` suffix. */
function stripDecorations(text: string): string {
  let s = text;
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const pct = s.indexOf('%');
  if (pct >= 0 && s.includes(':')) s = s.slice(0, pct);
  return s;
}

/** An IP address as family and network-order bytes. */
export interface ParsedIp {
  family: 4 | 6;
  bytes: Uint8Array;
}

/** Parses any IP text to bytes; IPv4-mapped IPv6 becomes IPv4. */
export function parseIp(text: string): ParsedIp | null {
  const s = stripDecorations(text);
  const fam = isIP(s);
  if (fam === 4) return { family: 4, bytes: v4Bytes(s) };
  if (fam !== 6) return null;
  const b = v6Bytes(s);
  if (isV4Mapped(b)) return { family: 4, bytes: b.slice(12) };
  return { family: 6, bytes: b };
}

function formatBytes(p: ParsedIp): string {
  return p.family === 4 ? Array.from(p.bytes).join('.') : formatV6(p.bytes);
}

/**
 * Canonical text of an IP address: IPv4 dotted quad; IPv6 in RFC 5952 form; IPv4-mapped IPv6
 * (`::ffff:1.2.3.4`) as IPv4; brackets and a zone id (`%eth0`) dropped. `null` if `text` is not an IP.
 */
export function normalizeIp(text: string): string | null {
  const p = parseIp(text);
  return p ? formatBytes(p) : null;
}

/** Address family of an IP text after normalisation (IPv4-mapped counts as 4), or 0 if not an IP. */
export function ipFamily(text: string): 0 | 4 | 6 {
  return parseIp(text)?.family ?? 0;
}

/** True for 127.0.0.0/8 and ::1 (IPv4-mapped loopback included). */
export function isLoopback(ip: string): boolean {
  const p = parseIp(ip);
  if (!p) return false;
  if (p.family === 4) return p.bytes[0] === 127;
  return p.bytes.every((x, i) => (i === 15 ? x === 1 : x === 0));
}

/**
 * Parses `A:P`: `1.2.3.4:5060` or `[2001:db8::1]:5060`; port 0..65535 (0 = ephemeral).
 * The address is normalised (see {@link normalizeIp}). `null` if malformed.
 */
export function parseEndpoint(text: string): Endpoint | null {
  let host: string;
  let port: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return null;
    host = text.slice(1, close);
    port = text.slice(close + 2);
    if (isIP(stripDecorations(host)) !== 6) return null;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return null;
    host = text.slice(0, colon);
    port = text.slice(colon + 1);
    if (isIP(host) !== 4) return null;
  }
  if (!/^[0-9]{1,5}$/.test(port)) return null;
  const n = Number(port);
  if (n > 65535) return null;
  const ip = normalizeIp(host);
  return ip === null ? null : { ip, port: n };
}

/** An IP network: the address bytes with host bits cleared, and the prefix length. */
export interface Cidr {
  family: 4 | 6;
  /** 4 or 16 bytes, host bits zero. */
  bytes: Uint8Array;
  prefix: number;
}

function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = bytes.slice();
  for (let i = 0; i < out.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = out[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

/**
 * Parses `IP/len` or a bare IP (= /32 or /128). Host bits are cleared. An IPv4-mapped IPv6 network with
 * prefix >= 96 becomes the equivalent IPv4 network. `null` if malformed or the prefix is out of range.
 */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const ipText = slash < 0 ? text : text.slice(0, slash);
  const lenText = slash < 0 ? null : text.slice(slash + 1);
  const s = stripDecorations(ipText);
  const fam = isIP(s);
  if (fam === 0) return null;
  const max = fam === 4 ? 32 : 128;
  let prefix = max;
  if (lenText !== null) {
    if (!/^[0-9]{1,3}$/.test(lenText)) return null;
    prefix = Number(lenText);
    if (prefix > max) return null;
  }
  let bytes = fam === 4 ? v4Bytes(s) : v6Bytes(s);
  let family: 4 | 6 = fam === 4 ? 4 : 6;
  if (family === 6 && prefix >= 96 && isV4Mapped(bytes)) {
    bytes = bytes.slice(12);
    prefix -= 96;
    family = 4;
  }
  return { family, bytes: maskBytes(bytes, prefix), prefix };
}

/** Canonical text of a CIDR, always with the prefix (`10.0.0.0/8`, `2001:db8::/32`, `1.2.3.4/32`). */
export function formatCidr(c: Cidr): string {
  return `${formatBytes({ family: c.family, bytes: c.bytes })}/${c.prefix}`;
}

/** True when `ip` (any IP text; IPv4-mapped counts as IPv4) lies inside `c`. False for non-IPs. */
export function cidrContains(c: Cidr, ip: string): boolean {
  const p = parseIp(ip);
  if (!p || p.family !== c.family) return false;
  const m = maskBytes(p.bytes, c.prefix);
  for (let i = 0; i < m.length; i++) if (m[i] !== c.bytes[i]) return false;
  return true;
}

/**
 * A canonical dotted quad (no leading zeros) as a number, else -1. A char loop: it runs on hot paths (allow-list
 * matching per request, the never-blocked check per exported row).
 */
export function v4ToInt(s: string): number {
  let acc = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      acc = acc * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // leading zero
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return acc * 256 + part;
}

/** An allow-list matcher. */
export interface IpMatcher {
  /** True when `ip` lies in any of the CIDRs; IPv4-mapped IPv6 is matched as IPv4. */
  matches(ip: string): boolean;
}

/**
 * Builds a matcher over CIDR strings (bare IPs allowed). Throws a TypeError on an invalid entry
 * (configuration validates first). IPv4 lookups are a few Set probes (one per distinct prefix length).
 */
export function createIpMatcher(cidrs: readonly string[]): IpMatcher {
  const v4ByPrefix = new Map<number, Set<number>>();
  const v6: Cidr[] = [];
  for (const text of cidrs) {
    const c = parseCidr(text);
    if (!c) throw new SipwardenError(ERROR_CODES.CONFIG_INVALID, `invalid CIDR: ${text}`, 2);
    if (c.family === 4) {
      const net = ((c.bytes[0]! << 24) | (c.bytes[1]! << 16) | (c.bytes[2]! << 8) | c.bytes[3]!) >>> 0;
      let set = v4ByPrefix.get(c.prefix);
      if (!set) v4ByPrefix.set(c.prefix, (set = new Set()));
      set.add(net);
    } else v6.push(c);
  }
  const v4 = [...v4ByPrefix.entries()].map(([prefix, nets]) => ({
    mask: prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0,
    nets,
  }));
  if (v4.length === 0 && v6.length === 0) return { matches: () => false };
  const matchV4 = (n: number): boolean => {
    for (const { mask, nets } of v4) if (nets.has((n & mask) >>> 0)) return true;
    return false;
  };
  return {
    matches(ip: string): boolean {
      const n = v4ToInt(ip);
      if (n >= 0) return matchV4(n);
      const p = parseIp(ip);
      if (!p) return false;
      if (p.family === 4) {
        return matchV4(((p.bytes[0]! << 24) | (p.bytes[1]! << 16) | (p.bytes[2]! << 8) | p.bytes[3]!) >>> 0);
      }
      for (const c of v6) {
        const m = maskBytes(p.bytes, c.prefix);
        let eq = true;
        for (let i = 0; i < 16 && eq; i++) eq = m[i] === c.bytes[i];
        if (eq) return true;
      }
      return false;
    },
  };
}
