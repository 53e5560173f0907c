/**
 * Per-source reply cap (SPEC §7.2: ≤ N replies per second per source IP, retransmitted replies included):
 * an exact sliding one-second window kept as a ring of the last N send times per IP. The table of sources is
 * bounded; sources idle for a second hold no state and are swept. When the table is full of active sources,
 * new sources are not answered (that is the anti-reflection choice: fewer replies, never more).
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

const WINDOW_MS = 1000;

export function createReplyLimiter(perSecond: number, maxSources = 65_536): ReplyLimiter {
  const unlimited = !(perSecond > 0);
  const cap = Math.max(1, Math.floor(perSecond));
  const table = new Map<string, Ring>();
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
        r = { times: new Float64Array(cap), head: 0, count: 0, last: nowMs };
        table.set(ip, r);
      }
      if (r.count < cap) {
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
