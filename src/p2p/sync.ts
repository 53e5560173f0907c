/**
 * Catch-up protocol: `/sipwarden/bad-actors-sync/1.0.0`, length-prefixed JSON frames.
 * Request `{"after": cursor|null, "limit": n}`; answer: envelope frames oldest first, then `{"next": cursor}`.
 * The cursor is our `peer_records.record_id` as a decimal string (opaque to the peer).
 */
import type { Stream } from '@libp2p/interface';
import { lpStream } from '@libp2p/utils';
import { MAX_RECORD_BYTES } from './record.js';
import { RECORD_CHUNK as CHUNK, type RecordPager } from '../store/peer-records.js';
import { ERROR_CODES, SipwardenError } from '../errors.js';

export const SYNC_PROTOCOL = '/sipwarden/bad-actors-sync/1.0.0';
/** Largest page a request may ask for. */
export const MAX_PAGE = 10_000;
/** `after: null` means the last 24 h. */
export const FIRST_SYNC_WINDOW_US = 24 * 3600 * 1_000_000;
/** Largest request frame we read. */
const MAX_REQUEST_BYTES = 1024;
/** Largest answer frame we read: an envelope (≤64 KiB, checked again by validation) plus slack. */
export const MAX_FRAME_BYTES = MAX_RECORD_BYTES + 1024;

export interface SyncRequest {
  after: string | null;
  limit: number;
}

/** Parses and bounds a request; null when it is not one. */
export function parseSyncRequest(bytes: Uint8Array): SyncRequest | null {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  let after: string | null = null;
  if (typeof r.after === 'string' && /^\d{1,18}$/.test(r.after)) after = r.after;
  else if (typeof r.after === 'number' && Number.isSafeInteger(r.after) && r.after >= 0) after = String(r.after);
  else if (r.after !== null && r.after !== undefined) return null;
  const limit = typeof r.limit === 'number' && Number.isInteger(r.limit) ? Math.min(Math.max(r.limit, 1), MAX_PAGE) : MAX_PAGE;
  return { after, limit };
}

/**
 * Serves one catch-up request on an inbound stream. Reads in short chunks and awaits each write, so a slow
 * reader exerts backpressure instead of filling memory, and sqlite is never held across an await.
 */
export async function serveSync(stream: Stream, pager: RecordPager, nowUs: () => number, signal: AbortSignal): Promise<number> {
  const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES });
  const req = parseSyncRequest((await lp.read({ signal })).subarray());
  if (!req) {
    stream.abort(new SipwardenError(ERROR_CODES.P2P_RECORD_INVALID, 'bad sync request'));
    return 0;
  }
  let cursor = req.after !== null ? Number(req.after) : pager.cursorAt(nowUs() - FIRST_SYNC_WINDOW_US);
  let sent = 0;
  const enc = new TextEncoder();
  while (sent < req.limit) {
    const rows = pager.chunk(cursor, req.limit - sent);
    if (rows.length === 0) break;
    await lp.writeV(rows.map((r) => enc.encode(r.envelope)), { signal });
    sent += rows.length;
    cursor = rows[rows.length - 1]!.record_id;
    if (rows.length < CHUNK) break;
  }
  await lp.write(enc.encode(JSON.stringify({ next: String(cursor) })), { signal });
  await stream.close({ signal });
  return sent;
}

/** One page fetched by {@link fetchPage}. */
export interface PageResult {
  /** Envelope frames received. */
  count: number;
  /** The responder's next cursor, or null if it never sent one (stream cut short). */
  next: string | null;
}

/**
 * Requests one page on an outbound stream; `onEnvelope` handles each envelope frame in order (it may be async:
 * the next frame is read after it resolves).
 */
export async function fetchPage(
  stream: Stream,
  req: SyncRequest,
  onEnvelope: (bytes: Uint8Array) => void | Promise<void>,
  signal: AbortSignal,
): Promise<PageResult> {
  const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES });
  await lp.write(new TextEncoder().encode(JSON.stringify(req)), { signal });
  let count = 0;
  for (;;) {
    if (count > req.limit) throw new SipwardenError(ERROR_CODES.P2P_RECORD_INVALID, 'peer sent more records than asked for');
    const frame = (await lp.read({ signal })).subarray();
    // The final frame is the only one without an envelope; `{"next"` is how ours starts.
    if (frame.byteLength < 64 && frame[2] === 0x6e /* n */) {
      const v = JSON.parse(Buffer.from(frame).toString('utf8')) as { next?: unknown };
      if ('next' in v) {
        const next = typeof v.next === 'string' || typeof v.next === 'number' ? String(v.next) : null;
        await stream.close({ signal }).catch(() => stream.abort(new SipwardenError(ERROR_CODES.INTERNAL, 'close failed')));
        return { count, next };
      }
    }
    count++;
    await onEnvelope(frame);
  }
}
