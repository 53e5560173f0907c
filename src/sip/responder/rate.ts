/**
 * Per-source reply cap (the responder rules: ≤ N replies per second per source IP, retransmitted replies included).
 * Up to RING_MAX per second it is an exact sliding one-second window kept as a ring of the last N send times
 * per IP. Above that (an operator's explicit high cap) a ring would cost 8·N bytes per source, so the window is
 * kept as ten 100 ms buckets instead: O(1) memory per source, and any ten consecutive buckets hold at most N.
 * The table of sources is bounded; sources idle for a second hold no state and are swept. When the table is full
 * of active sources, new sources are not answered (the anti-reflection choice: fewer replies, never more).
 */
export interface ReplyLimiter {
  /** True (and counts the send) when `ip` may get one more reply now. */
  tryTake(ip: string, nowMs: number): boolean;
  /** Drops idle sources. */
  sweep(nowMs: number): void;
  readonly size: number;
}

interface Ring {
  times: Float64Array;
  head: number;
  count: number;
  last: number;
}

/** Ten 100 ms buckets: counts, and the bucket number (ms / 100) each slot currently holds. */
interface Buckets {
  counts: Uint32Array;
  slots: Float64Array;
  last: number;
}

const WINDOW_MS = 1000;
const BUCKETS = 10;
const BUCKET_MS = WINDOW_MS / BUCKETS;
/** Largest cap kept as an exact ring of send times. */
export const RING_MAX = 64;

function takeBucket(b: Buckets, cap: number, nowMs: number): boolean {
  const current = Math.floor(nowMs / BUCKET_MS);
  let sum = 0;
  for (let i = 0; i < BUCKETS; i++) {
    // Slots older than the last ten buckets count for nothing.
    if (current - b.slots[i]! < BUCKETS) sum += b.counts[i]!;
  }
  if (sum >= cap) return false;
  const slot = current % BUCKETS;
  if (b.slots[slot] !== current) {
    b.slots[slot] = current;
    b.counts[slot] = 0;
  }
  b.counts[slot]!++;
  return true;
}

export function createReplyLimiter(perSecond: number, maxSources = 65_536): ReplyLimiter {
  const unlimited = !(perSecond > 0);
  const cap = Math.max(1, Math.floor(perSecond));
  const table = new Map<string, Ring | Buckets>();
  let lastSweep = 0;

  function sweep(nowMs: number): void {
    lastSweep = nowMs;
    for (const [ip, r] of table) if (nowMs - r.last >= WINDOW_MS) table.delete(ip);
  }

  return {
    get size() {
      return table.size;
    },
    sweep,
    tryTake(ip, nowMs) {
      if (unlimited) return true;
      let r = table.get(ip);
      if (r === undefined) {
        if (table.size >= maxSources) {
          if (nowMs - lastSweep >= 100) sweep(nowMs);
          if (table.size >= maxSources) return false;
        }
        r = cap <= RING_MAX
          ? { times: new Float64Array(cap), head: 0, count: 0, last: nowMs }
          : { counts: new Uint32Array(BUCKETS), slots: new Float64Array(BUCKETS).fill(-Infinity), last: nowMs };
        table.set(ip, r);
      }
      if ('counts' in r) {
        if (!takeBucket(r, cap, nowMs)) return false;
      } else if (r.count < cap) {
        r.times[(r.head + r.count) % cap] = nowMs;
        r.count++;
      } else {
        if (nowMs - r.times[r.head]! < WINDOW_MS) return false;
        r.times[r.head] = nowMs;
        r.head = (r.head + 1) % cap;
      }
      r.last = nowMs;
      return true;
    },
  };
}
