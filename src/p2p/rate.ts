/**
 * Token bucket: `rate` tokens per second, bursts up to `burst`. Used for the per-peer gossip cap
 * (the peer-to-peer contract: ≤100 records/s per peer) and the total records/s and bytes/s caps.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly rate: number,
    private readonly burst: number = rate,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes `n` tokens if available; false (nothing taken) otherwise. A rate ≤ 0 means unlimited. */
  take(n = 1): boolean {
    if (this.rate <= 0) return true;
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}
