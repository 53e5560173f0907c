/**
 * "Seen within the last `windowMs`?" for 53-bit numeric keys, with no per-key allocation: two generations of
 * open-addressing tables in typed arrays (key, first-seen ms). A lookup checks both; the young one becomes the old one
 * every window or when it holds `maxPerGeneration` keys, so memory is fixed and nothing is trimmed per packet. A
 * `Map<number, number>` allocated two heap numbers per request (keys and times are not small integers) that then
 * lived for a window: promoted garbage for the collector at tens of thousands of requests per second.
 */
export class RecentKeys {
  private youngKeys: Float64Array;
  private youngTimes: Float64Array;
  private oldKeys: Float64Array;
  private oldTimes: Float64Array;
  private youngCount = 0;
  private rotatedAt: number;
  private readonly mask: number;

  constructor(
    private readonly windowMs: number,
    private readonly maxPerGeneration: number,
    now: number,
  ) {
    // Load factor ≤ 0.4 keeps linear probing short.
    let size = 1024;
    while (size * 0.4 < maxPerGeneration) size *= 2;
    this.mask = size - 1;
    this.youngKeys = new Float64Array(size);
    this.youngTimes = new Float64Array(size);
    this.oldKeys = new Float64Array(size);
    this.oldTimes = new Float64Array(size);
    this.rotatedAt = now;
  }

  /** True when `key` was seen less than the window ago; otherwise records it (as of `t`) and returns false. */
  seenElseAdd(key: number, t: number): boolean {
    if (t - this.rotatedAt >= this.windowMs || this.youngCount >= this.maxPerGeneration) this.rotate(t);
    // 0 marks an empty slot; a key of 0 is stored as 1 (one more 2⁻⁵³ chance of a false match).
    const k = key === 0 ? 1 : key;
    const at = this.find(this.oldKeys, this.oldTimes, k);
    if (at >= 0 && t - at < this.windowMs) return true;
    const mask = this.mask;
    const keys = this.youngKeys;
    let i = (k % (mask + 1)) & mask;
    for (;;) {
      const s = keys[i]!;
      if (s === 0) {
        keys[i] = k;
        this.youngTimes[i] = t;
        this.youngCount++;
        return false;
      }
      if (s === k) {
        if (t - this.youngTimes[i]! < this.windowMs) return true;
        this.youngTimes[i] = t;
        return false;
      }
      i = (i + 1) & mask;
    }
  }

  /** Keys remembered in the young generation (tests). */
  get size(): number {
    return this.youngCount;
  }

  private find(keys: Float64Array, times: Float64Array, k: number): number {
    const mask = this.mask;
    let i = (k % (mask + 1)) & mask;
    for (;;) {
      const s = keys[i]!;
      if (s === 0) return -1;
      if (s === k) return times[i]!;
      i = (i + 1) & mask;
    }
  }

  private rotate(t: number): void {
    const keys = this.oldKeys;
    const times = this.oldTimes;
    this.oldKeys = this.youngKeys;
    this.oldTimes = this.youngTimes;
    keys.fill(0);
    this.youngKeys = keys;
    this.youngTimes = times;
    this.youngCount = 0;
    this.rotatedAt = t;
  }
}
