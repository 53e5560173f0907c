/**
 * The API's streamed bodies: the store's row streams (`store/queries.ts`) formatted as SentryPeer's pretty JSON
 * lists, ipset lines or a blocklist format, grouped into chunks of about 64 KiB for the worker boundary.
 */
import type { BlockEntry, CompatListKind, CompatRow, RowStream } from '../store/queries.js';
import { chunked, COMPAT_CLOSE, compatItem, compatOpen, formatBlocklist, type BlocklistFormat, type FirewallNames } from './format.js';
import type { StreamHead } from './protocol.js';

/** A body: its head (known inside the read snapshot) and the body chunks. */
export interface OpenStream {
  head: StreamHead;
  chunks: Generator<string>;
  /** Releases the snapshot and connection (idempotent). */
  close(): void;
}

/** Formats the rows of `s` with `format`; the snapshot is released when the chunks end or on `close()`. */
function bodyOf<T>(s: RowStream<T>, format: (rows: Iterable<T>) => Iterable<string>): OpenStream {
  const chunks = (function* (): Generator<string> {
    try {
      yield* chunked(format(s.rows));
    } finally {
      s.close();
    }
  })();
  return { head: { total: s.total }, chunks, close: () => (chunks.return(undefined), s.close()) };
}

/** Keys of each SentryPeer list: item key, total key, list key. */
const COMPAT_KEYS: Record<CompatListKind, { key: string; total: string; list: string }> = {
  ip: { key: 'ip_address', total: 'ip_addresses_total', list: 'ip_addresses' },
  number: { key: 'called_number', total: 'called_numbers_total', list: 'called_numbers' },
  ua: { key: 'user_agent', total: 'user_agents_total', list: 'user_agents' },
  method: { key: 'sip_method', total: 'sip_methods_total', list: 'sip_methods' },
  country: { key: 'country', total: 'countries_total', list: 'countries' },
};

/** A SentryPeer list as a stream of pretty JSON; head total = number of items. */
export function compatListBody(kind: CompatListKind, s: RowStream<CompatRow>): OpenStream {
  const k = COMPAT_KEYS[kind];
  return bodyOf(s, function* (rows) {
    yield compatOpen(k.total, k.list, s.total);
    let first = true;
    for (const [key, last, n] of rows) {
      yield (first ? '' : ',\n') + compatItem(k.key, key, last, n);
      first = false;
    }
    yield COMPAT_CLOSE;
  });
}

/** `/ip-addresses/ipset`: one address a line. */
export function ipsetBody(s: RowStream<string>): OpenStream {
  return bodyOf(s, function* (rows) {
    for (const ip of rows) yield ip + '\n';
  });
}

/** `/api/v1/blocklist` in the requested format. */
export function blocklistBody(s: RowStream<BlockEntry>, format: BlocklistFormat, names: FirewallNames, nowUs: number): OpenStream {
  return bodyOf(s, (rows) => formatBlocklist(format, rows, s.total, names, nowUs));
}
