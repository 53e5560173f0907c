/**
 * The API's per-source rate limit: `--api-rate-limit N` requests/s averaged over a 5 s window, i.e. at most
 * 5·N requests per source address in a window that starts with that source's first request.
 *
 * It runs as the API's first request hook, before the URL checks, authentication and routing, so unauthenticated
 * requests and unknown paths use up the same budget as any other (the token check and the 404 answer are work
 * an attacker could otherwise ask for without limit).
 *
 * Memory is bounded: at most `maxKeys` sources are tracked; expired windows are swept once per window, and when
 * the table is still full the sources beyond it share one budget (a flood from more addresses than that
 * limits itself as a whole rather than growing the table).
 */

/** Options of {@link RateLimiter}. */
export interface RateLimiterInit {
  /** Requests per window and source. */
  max: number;
  /** Window length, ms. */
  windowMs: number;
  /** Sources tracked at once. Default 100,000 (≈10 MB). */
  maxKeys?: number;
  /** Clock (ms), for tests. */
  now?: () => number;
}

interface Window {
  count: number;
  resetAt: number;
}

/** Key shared by the sources that arrive while the table is full. */
export const OVERFLOW_KEY = '\u0000overflow';

/** Fixed-window counter per source. */
export class RateLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly max: number;
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;
  private nextSweep = 0;

  constructor(init: RateLimiterInit) {
    this.max = Math.max(1, Math.floor(init.max));
    this.windowMs = Math.max(1, init.windowMs);
    this.maxKeys = Math.max(1, init.maxKeys ?? 100_000);
    this.now = init.now ?? Date.now;
  }

  /** Sources currently tracked. */
  get size(): number {
    return this.windows.size;
  }

  /**
   * Counts one request from `key`. Returns 0 when it is within the budget, else the seconds (≥ 1) until the
   * source's window ends (the `Retry-After` value).
   */
  hit(key: string): number {
    const now = this.now();
    if (now >= this.nextSweep) this.sweep(now);
    let w = this.windows.get(key);
    if (w === undefined || now >= w.resetAt) {
      if (w === undefined && this.windows.size >= this.maxKeys) {
        // Full of live windows (the sweep above ran at most one window ago): share the overflow budget.
        key = OVERFLOW_KEY;
        w = this.windows.get(key);
      }
      if (w === undefined || now >= w.resetAt) {
        w = { count: 0, resetAt: now + this.windowMs };
        this.windows.set(key, w);
      }
    }
    w.count++;
    if (w.count <= this.max) return 0;
    return Math.max(1, Math.ceil((w.resetAt - now) / 1000));
  }

  /** Drops expired windows; runs at most once per window length (O(n) then, O(1) per request otherwise). */
  private sweep(now: number): void {
    this.nextSweep = now + this.windowMs;
    for (const [k, w] of this.windows) if (now >= w.resetAt) this.windows.delete(k);
  }
}
