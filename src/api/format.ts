/**
 * Pure text formatting shared by the reader worker and the routes: RFC 3339 input, SentryPeer's pretty list
 * items and the blocklist export formats (issue 5 item 3). Cursors belong to the store (`store/cursor.ts`).
 */
import { ApiError } from './protocol.js';
import { rfc3339 } from '../text/time.js';
import type { BlockEntry } from '../store/queries.js';

export { rfc3339 };
export type { BlockEntry };

/**
 * Parses an RFC 3339 date-time (`2026-11-24T17:48:04Z`, fractional seconds and offsets allowed) to UTC
 * microseconds. Throws a 400 ApiError naming `param` when malformed.
 */
export function parseRfc3339(text: string, param: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) throw new ApiError(400, `invalid ${param}: expected an RFC 3339 date-time`);
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > 31 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 60) {
    throw new ApiError(400, `invalid ${param}: out of range`);
  }
  let ms = Date.UTC(Number(y), month - 1, day, Number(h), Number(mi), Number(s));
  if (Number.isNaN(ms)) throw new ApiError(400, `invalid ${param}: out of range`);
  if (tz !== 'Z' && tz !== 'z') {
    const sign = tz!.startsWith('-') ? -1 : 1;
    const [oh, om] = tz!.slice(1).split(':').map(Number) as [number, number];
    if (oh > 23 || om > 59) throw new ApiError(400, `invalid ${param}: bad offset`);
    ms -= sign * (oh * 60 + om) * 60_000;
  }
  const micro = frac ? Number(frac.padEnd(6, '0').slice(0, 6)) : 0;
  return ms * 1000 + micro;
}

/** One SentryPeer list item, pretty-printed at the nesting depth of `JSON.stringify(v, null, 2)`. */
export function compatItem(key: string, value: string, seenLast: string | null, count: number): string {
  return (
    `    {\n      ${JSON.stringify(key)}: ${JSON.stringify(value)},\n` +
    `      "seen_last": ${JSON.stringify(seenLast)},\n      "seen_count": ${JSON.stringify(String(count))}\n    }`
  );
}

/** Opening of a pretty SentryPeer list body: `{"<x>_total": N, "<x>": [`. */
export function compatOpen(totalKey: string, listKey: string, total: number): string {
  return `{\n  ${JSON.stringify(totalKey)}: ${total},\n  ${JSON.stringify(listKey)}: [\n`;
}

/** Closing of a pretty SentryPeer list body. */
export const COMPAT_CLOSE = '\n  ]\n}';

/** Blocklist export formats (`/api/v1/blocklist?format=`). */
export const BLOCKLIST_FORMATS = ['plain', 'ipset', 'nftables', 'csv', 'jsonl', 'json'] as const;
export type BlocklistFormat = (typeof BLOCKLIST_FORMATS)[number];

/** Content-Type of each export format. */
export const BLOCKLIST_CONTENT_TYPES: Record<BlocklistFormat, string> = {
  plain: 'text/plain; charset=utf-8',
  ipset: 'text/plain; charset=utf-8',
  nftables: 'text/plain; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  jsonl: 'application/x-ndjson',
  json: 'application/json',
};

/** Names used by the ipset and nftables formats; validated identifiers. */
export interface FirewallNames {
  table: string;
  set4: string;
  set6: string;
  /** nftables only: also (re)create an input chain dropping both sets. */
  rules: boolean;
  /** ipset only: `maxelem` of the created sets. */
  maxelem: number;
}

/** Default ipset `create` timeout; a constant so `create -exist` stays idempotent when `ttl` changes. */
export const IPSET_DEFAULT_TIMEOUT = 604_800;
/** Elements per nftables `add element` statement. */
const NFT_BATCH = 1000;

/**
 * Streams one export format over entries: yields text pieces (header, one per entry or batch, footer) that
 * the caller concatenates into chunks. Memory is bounded by one nftables batch.
 */
export function* formatBlocklist(
  format: BlocklistFormat,
  entries: Iterable<BlockEntry>,
  total: number,
  names: FirewallNames,
  nowUs: number,
): Generator<string> {
  switch (format) {
    case 'plain':
      for (const e of entries) yield e.ip + '\n';
      return;
    case 'csv':
      yield 'ip,first_seen,last_seen,count,verified,ttl\n';
      for (const e of entries) {
        yield `${e.ip},${rfc3339(e.firstSeenUs)},${rfc3339(e.lastSeenUs)},${e.count},${e.verified},${e.ttl}\n`;
      }
      return;
    case 'jsonl':
      for (const e of entries) yield JSON.stringify(entryJson(e)) + '\n';
      return;
    case 'json': {
      yield `{"total":${total},"generated_at":${JSON.stringify(rfc3339(nowUs))},"entries":[`;
      let first = true;
      for (const e of entries) {
        yield (first ? '' : ',') + JSON.stringify(entryJson(e));
        first = false;
      }
      yield ']}\n';
      return;
    }
    case 'ipset': {
      const { set4, set6, maxelem } = names;
      yield `# sipwarden blocklist: ${total} addresses, generated ${rfc3339(nowUs)}; load with: ipset -exist restore < file\n`;
      yield `create ${set4} hash:ip family inet hashsize 1024 maxelem ${maxelem} timeout ${IPSET_DEFAULT_TIMEOUT} -exist\n`;
      yield `create ${set6} hash:ip family inet6 hashsize 1024 maxelem ${maxelem} timeout ${IPSET_DEFAULT_TIMEOUT} -exist\n`;
      for (const e of entries) yield `add ${e.ip.includes(':') ? set6 : set4} ${e.ip} timeout ${e.ttl} -exist\n`;
      return;
    }
    case 'nftables': {
      const { table, set4, set6, rules } = names;
      yield `#!/usr/sbin/nft -f\n# sipwarden blocklist: ${total} addresses, generated ${rfc3339(nowUs)}\n`;
      if (rules) {
        // Declare, delete, re-create: one atomic transaction that replaces the whole table on every load.
        yield `table inet ${table}\ndelete table inet ${table}\n`;
        yield `table inet ${table} {\n\tset ${set4} {\n\t\ttype ipv4_addr\n\t\tflags timeout\n\t}\n\tset ${set6} {\n\t\ttype ipv6_addr\n\t\tflags timeout\n\t}\n`;
        yield `\tchain input {\n\t\ttype filter hook input priority -10; policy accept;\n\t\tip saddr @${set4} drop\n\t\tip6 saddr @${set6} drop\n\t}\n}\n`;
      } else {
        yield `table inet ${table} {\n\tset ${set4} {\n\t\ttype ipv4_addr\n\t\tflags timeout\n\t}\n\tset ${set6} {\n\t\ttype ipv6_addr\n\t\tflags timeout\n\t}\n}\n`;
        yield `flush set inet ${table} ${set4}\nflush set inet ${table} ${set6}\n`;
      }
      const v4: string[] = [];
      const v6: string[] = [];
      const flush = (set: string, xs: string[]): string => {
        const s = `add element inet ${table} ${set} { ${xs.join(', ')} }\n`;
        xs.length = 0;
        return s;
      };
      for (const e of entries) {
        const v6addr = e.ip.includes(':');
        const xs = v6addr ? v6 : v4;
        xs.push(`${e.ip} timeout ${e.ttl}s`);
        if (xs.length >= NFT_BATCH) yield flush(v6addr ? set6 : set4, xs);
      }
      if (v4.length) yield flush(set4, v4);
      if (v6.length) yield flush(set6, v6);
      return;
    }
  }
}

function entryJson(e: BlockEntry): Record<string, unknown> {
  return {
    ip: e.ip,
    first_seen: rfc3339(e.firstSeenUs),
    last_seen: rfc3339(e.lastSeenUs),
    count: e.count,
    verified: e.verified,
    ttl: e.ttl,
  };
}

/** Groups text pieces into chunks of about `size` characters (fewer postMessage calls and socket writes). */
export function* chunked(pieces: Iterable<string>, size = 64 * 1024): Generator<string> {
  let buf = '';
  for (const p of pieces) {
    buf += p;
    if (buf.length >= size) {
      yield buf;
      buf = '';
    }
  }
  if (buf.length) yield buf;
}
