/**
 * The feed's route table, kept up to date one change at a time: the routes the block set wants (refusals
 * applied, optional /24 aggregation, at most `maxRoutes` per family with the oldest last hit left out first) and
 * the routes ExaBGP was told to hold. A change costs O(log n) (plus at most 256 addresses of its /24 when
 * aggregating); {@link RouteTable.flush} returns only the prefixes touched since the last flush, so nothing walks
 * the whole set per change. No I/O.
 */
import { ipFamily } from '../net/ip.js';
import { RoutePolicy, olderRoute, type RefusalReason, type Route } from './routes.js';

/** A heap entry; stale once its member moved or left (generation mismatch). */
interface Slot {
  route: Route;
  gen: number;
}

/** Binary heap ordered by `before` (the top is the entry for which `before(top, x)` holds for all x). */
class Heap {
  private readonly a: Slot[] = [];
  constructor(private readonly before: (x: Route, y: Route) => boolean) {}
  get size(): number {
    return this.a.length;
  }
  peek(): Slot | undefined {
    return this.a[0];
  }
  push(s: Slot): void {
    const a = this.a;
    a.push(s);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(a[i]!.route, a[p]!.route)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): Slot | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.before(a[l]!.route, a[m]!.route)) m = l;
        if (r < a.length && this.before(a[r]!.route, a[m]!.route)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
  clear(): void {
    this.a.length = 0;
  }
}

interface Member {
  route: Route;
  inside: boolean;
  gen: number;
}

/**
 * The routes of one family under a cap: `inside` holds the `max` newest (by {@link olderRoute}), the rest wait
 * outside and come back in when room frees up. Two heaps with lazy deletion: the oldest inside, the newest outside.
 */
class CappedFamily {
  private readonly members = new Map<string, Member>();
  /** Oldest inside on top. */
  private readonly inHeap = new Heap(olderRoute);
  /** Newest outside on top. */
  private readonly outHeap = new Heap((x, y) => olderRoute(y, x));
  private insideCount = 0;
  private gen = 0;
  constructor(
    private readonly max: number,
    private readonly touched: (prefix: string) => void,
    private readonly evicted: (r: Route) => void,
  ) {}

  get inside(): number {
    return this.insideCount;
  }
  isInside(prefix: string): boolean {
    return this.members.get(prefix)?.inside === true;
  }
  get(prefix: string): Route | undefined {
    return this.members.get(prefix)?.route;
  }
  *routesInside(): Iterable<Route> {
    for (const m of this.members.values()) if (m.inside) yield m.route;
  }

  set(r: Route): void {
    const old = this.members.get(r.prefix);
    if (old && old.inside) this.insideCount--;
    const m: Member = { route: r, inside: false, gen: ++this.gen };
    this.members.set(r.prefix, m);
    this.outHeap.push({ route: r, gen: m.gen });
    this.touched(r.prefix);
    this.rebalance();
    // Refused by the cap: a new route, or one that was inside (a route already outside is not counted again).
    if (!m.inside && (!old || old.inside)) this.evicted(r);
  }

  delete(prefix: string): void {
    const old = this.members.get(prefix);
    if (!old) return;
    if (old.inside) this.insideCount--;
    this.members.delete(prefix);
    this.touched(prefix);
    this.rebalance();
  }

  private live(h: Heap, inside: boolean): Slot | undefined {
    for (;;) {
      const s = h.peek();
      if (!s) return undefined;
      const m = this.members.get(s.route.prefix);
      if (m && m.gen === s.gen && m.inside === inside) return s;
      h.pop();
    }
  }

  private move(s: Slot, inside: boolean): Member {
    (inside ? this.outHeap : this.inHeap).pop();
    const m = this.members.get(s.route.prefix)!;
    m.inside = inside;
    m.gen = ++this.gen;
    (inside ? this.inHeap : this.outHeap).push({ route: m.route, gen: m.gen });
    this.insideCount += inside ? 1 : -1;
    this.touched(m.route.prefix);
    return m;
  }

  private rebalance(): void {
    for (;;) {
      const out = this.live(this.outHeap, false);
      if (!out) break;
      if (this.insideCount < this.max) {
        this.move(out, true);
        continue;
      }
      const oldest = this.live(this.inHeap, true);
      if (!oldest || !olderRoute(oldest.route, out.route)) break;
      this.evicted(this.move(oldest, false).route);
      this.move(out, true);
    }
    // Stale entries pile up under churn; rebuild once they outnumber the live ones.
    if (this.inHeap.size + this.outHeap.size > 2 * this.members.size + 1024) {
      this.inHeap.clear();
      this.outHeap.clear();
      for (const m of this.members.values()) (m.inside ? this.inHeap : this.outHeap).push({ route: m.route, gen: m.gen });
    }
  }
}

/** What a flush asks ExaBGP to do. */
export interface RouteDelta {
  withdrawn: Route[];
  announced: Route[];
}

/** Incremental routes of a block set; see the module comment. */
export class RouteTable {
  /** Admitted addresses (not refused by policy) and their last hit. */
  private readonly addrs = new Map<string, number>();
  /** Addresses per IPv4 /24 (`a.b.c`), only when aggregating. */
  private readonly groups = new Map<string, Map<string, number>>();
  private readonly fam: Record<4 | 6, CappedFamily>;
  private readonly dirty = new Set<string>();
  private readonly sent = new Map<string, Route>();

  constructor(
    private readonly policy: RoutePolicy,
    private readonly refused: (ip: string, reason: RefusalReason) => void = () => {},
  ) {
    const touched = (p: string): void => void this.dirty.add(p);
    const evicted = (r: Route): void => this.refused(r.prefix.slice(0, r.prefix.indexOf('/')), 'max_routes');
    this.fam = { 4: new CappedFamily(policy.settings.maxRoutes, touched, evicted), 6: new CappedFamily(policy.settings.maxRoutes, touched, evicted) };
  }

  /** Admitted addresses. */
  get size(): number {
    return this.addrs.size;
  }

  /** Adds an address or moves its last hit. Refused addresses are reported and ignored. */
  set(ip: string, lastHitMs: number): void {
    const why = this.policy.refusal(ip);
    if (why !== null) {
      this.refused(ip, why);
      return;
    }
    const f = ipFamily(ip);
    if (f !== 4 && f !== 6) return;
    this.addrs.set(ip, lastHitMs);
    if (f === 6) this.fam[6].set({ prefix: `${ip}/128`, family: 6, lastHitMs });
    else if (this.policy.settings.aggregateMin > 0) this.regroup(ip, lastHitMs);
    else this.fam[4].set({ prefix: `${ip}/32`, family: 4, lastHitMs });
  }

  /** Removes an address (unknown ones are ignored). */
  remove(ip: string): void {
    if (!this.addrs.delete(ip)) return;
    const f = ipFamily(ip);
    if (f === 6) this.fam[6].delete(`${ip}/128`);
    else if (this.policy.settings.aggregateMin > 0) this.regroup(ip, null);
    else this.fam[4].delete(`${ip}/32`);
  }

  /** Makes the admitted set exactly `entries` (a snapshot), touching only what differs. */
  replaceAll(entries: Iterable<{ ip: string; lastHitMs: number }>): void {
    const keep = new Set<string>();
    for (const e of entries) {
      keep.add(e.ip);
      if (this.addrs.get(e.ip) !== e.lastHitMs) this.set(e.ip, e.lastHitMs);
    }
    for (const ip of [...this.addrs.keys()]) if (!keep.has(ip)) this.remove(ip);
  }

  /** Recomputes the routes of one /24 after `ip` changed (`null`: removed). */
  private regroup(ip: string, lastHitMs: number | null): void {
    const net = ip.slice(0, ip.lastIndexOf('.'));
    const g = this.groups.get(net) ?? new Map<string, number>();
    const before = g.size >= this.policy.settings.aggregateMin;
    if (lastHitMs === null) g.delete(ip);
    else g.set(ip, lastHitMs);
    if (g.size === 0) this.groups.delete(net);
    else this.groups.set(net, g);
    const after = g.size >= this.policy.settings.aggregateMin;
    const f = this.fam[4];
    if (after) {
      if (!before) for (const a of g.keys()) if (a !== ip) f.delete(`${a}/32`);
      f.delete(`${ip}/32`);
      let newest = -Infinity;
      for (const t of g.values()) newest = Math.max(newest, t);
      f.set({ prefix: `${net}.0/24`, family: 4, lastHitMs: newest });
    } else {
      f.delete(`${net}.0/24`);
      if (before) for (const [a, t] of g) f.set({ prefix: `${a}/32`, family: 4, lastHitMs: t });
      else if (lastHitMs === null) f.delete(`${ip}/32`);
      else f.set({ prefix: `${ip}/32`, family: 4, lastHitMs });
    }
  }

  /** The routes wanted now. */
  *wanted(): Iterable<Route> {
    yield* this.fam[4].routesInside();
    yield* this.fam[6].routesInside();
  }

  /** Routes wanted per family. */
  count(family: 4 | 6): number {
    return this.fam[family].inside;
  }

  /** What ExaBGP was told to hold (by the last {@link flush} or {@link resync}). */
  held(): ReadonlyMap<string, Route> {
    return this.sent;
  }

  /** The changes since the last flush: withdrawals and announces that bring the held routes to the wanted ones. */
  flush(): RouteDelta {
    const withdrawn: Route[] = [];
    const announced: Route[] = [];
    for (const p of this.dirty) {
      const fam = this.fam[p.includes(':') ? 6 : 4];
      const want = fam.isInside(p) ? fam.get(p) : undefined;
      const had = this.sent.get(p);
      if (want && !had) {
        announced.push(want);
        this.sent.set(p, want);
      } else if (!want && had) {
        withdrawn.push(had);
        this.sent.delete(p);
      } else if (want) this.sent.set(p, want); // a newer last hit; the route itself is unchanged
    }
    this.dirty.clear();
    return { withdrawn, announced };
  }

  /** Starts over: everything wanted counts as held (ExaBGP is about to be given the full set). */
  resync(): Route[] {
    this.dirty.clear();
    this.sent.clear();
    const all = [...this.wanted()];
    for (const r of all) this.sent.set(r.prefix, r);
    return all;
  }
}
