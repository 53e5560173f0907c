/**
 * The BGP blackhole feed: follows the block set through a {@link ChangeSource} and writes ExaBGP API commands:
 * the full set once it knows it, then batched announces and withdrawals for the changes (see ExabgpPipe for the
 * flow control). It reads ExaBGP's answers (`done`, `error`, neighbor state) and announces everything again when
 * a BGP session comes back up. While the source is lost it keeps what ExaBGP holds: it announces nothing it does
 * not know and withdraws nothing it has not been told to.
 *
 * It runs in one of two places (docs/BGP.md): inside the node, one feed per relay connected to the node's unix
 * socket (bgp/socket-server.ts), or as `sipwarden bgp-feed --api URL`, ExaBGP's own process, following the API.
 */
import type { Readable, Writable } from 'node:stream';
import { Counter, Gauge, Registry } from 'prom-client';
import { ExabgpPipe } from './exabgp-pipe.js';
import { RoutePolicy, type RefusalReason, type Route, type RouteSettings } from './routes.js';
import type { ChangeSource } from './source.js';
import { RouteTable } from './table.js';

/**
 * The feed's metrics: on the node's registry when the node runs the feed, on a registry of its own (served on
 * `--bgp-metrics-listen`) when the feed is a process of its own. Shared by every feed of one process.
 */
export class FeedMetrics {
  readonly routes: Gauge<'family'>;
  readonly announced: Counter<'family'>;
  readonly withdrawn: Counter<'family'>;
  readonly refusals: Counter<'reason'>;
  /** Feed starts: ExaBGP's out-table cleared and the full set sent (a new process, or a new relay connection). */
  readonly restarts: Counter;
  /** Every full-set send, by cause (`start`, `snapshot`, `session_up`). */
  readonly resends: Counter<'cause'>;
  readonly exabgpAnswers: Counter<'kind'>;
  /** Stream mode: 1 while the API stream is connected. Node mode: relays connected. */
  readonly connected: Gauge;
  /** Refusals already counted (`reason ip`): an address is counted once, however many feeds refuse it. */
  private readonly refusedOnce = new Set<string>();

  constructor(readonly registry: Registry = new Registry(), mode: 'stream' | 'node' = 'stream') {
    const registers = [registry];
    this.routes = new Gauge({ name: 'sipwarden_bgp_routes', help: 'Routes announced now, per family', labelNames: ['family'] as const, registers });
    this.announced = new Counter({ name: 'sipwarden_bgp_announcements_total', help: 'Routes announced (prefixes, batched into ExaBGP commands), per family', labelNames: ['family'] as const, registers });
    this.withdrawn = new Counter({ name: 'sipwarden_bgp_withdrawals_total', help: 'Routes withdrawn (prefixes), per family', labelNames: ['family'] as const, registers });
    this.refusals = new Counter({ name: 'sipwarden_bgp_refusals_total', help: 'Blocked addresses not announced, by reason', labelNames: ['reason'] as const, registers });
    this.restarts = new Counter({ name: 'sipwarden_bgp_feed_restarts_total', help: 'Feed starts: ExaBGP\'s out-table cleared and the full set sent', registers });
    this.resends = new Counter({ name: 'sipwarden_bgp_feed_resends_total', help: 'Full-set sends (start, session up, new snapshot)', labelNames: ['cause'] as const, registers });
    this.exabgpAnswers = new Counter({ name: 'sipwarden_bgp_exabgp_answers_total', help: 'Answers read from ExaBGP', labelNames: ['kind'] as const, registers });
    this.connected = mode === 'stream'
      ? new Gauge({ name: 'sipwarden_bgp_stream_connected', help: '1 while the block-set stream is connected', registers })
      : new Gauge({ name: 'sipwarden_bgp_feed_relays', help: 'bgp-feed relays connected to the node\'s feed socket', registers });
  }

  /** Counts a refusal once per address and reason. */
  refused(ip: string, reason: RefusalReason): void {
    const key = `${reason} ${ip}`;
    if (this.refusedOnce.has(key)) return;
    if (this.refusedOnce.size > 100_000) this.refusedOnce.clear();
    this.refusedOnce.add(key);
    this.refusals.inc({ reason });
  }

  /** Counts routes per family. */
  count(counter: Counter<'family'>, routes: readonly Route[]): void {
    let n4 = 0;
    for (const r of routes) if (r.family === 4) n4++;
    if (n4) counter.inc({ family: '4' }, n4);
    if (routes.length - n4) counter.inc({ family: '6' }, routes.length - n4);
  }
}

/** Inputs of {@link createBgpFeed}. */
export interface BgpFeedInit {
  source: ChangeSource;
  settings: RouteSettings;
  /** ExaBGP's answers (its pipe to us) and our commands (its pipe from us); in the node, one relay's socket. */
  input: Readable;
  output: Writable;
  /** Human lines (ExaBGP's log when on stderr). */
  log: (line: string) => void;
  metrics?: FeedMetrics;
  /** The source connected or lost (the stream mode's `sipwarden_bgp_stream_connected`). */
  onSourceState?: (connected: boolean) => void;
  /** Delay that coalesces a burst of changes into one write (ms). */
  coalesceMs?: number;
  /** ExaBGP commands unacknowledged at a time (4) and how long to wait for an acknowledgement (10 s). */
  maxInFlight?: number;
  ackTimeoutMs?: number;
}

/** The running feed. */
export interface BgpFeed {
  /** Resolves when the input closes (ExaBGP stopped or restarts us; in the node, the relay went away). */
  readonly done: Promise<void>;
  /** What ExaBGP was told it should hold. */
  held(): ReadonlyMap<string, Route>;
  /** Resolves once every command so far was written and acknowledged. */
  idle(): Promise<void>;
  stop(): Promise<void>;
  readonly metrics: FeedMetrics;
}

/** Starts the feed: starts the source, reads ExaBGP's answers. */
export async function createBgpFeed(init: BgpFeedInit): Promise<BgpFeed> {
  const policy = new RoutePolicy(init.settings);
  const metrics = init.metrics ?? new FeedMetrics();
  const table = new RouteTable(policy, (ip, reason) => metrics.refused(ip, reason));
  /** True once the block set is known (a snapshot); until then nothing is announced or withdrawn. */
  let known = false;
  let started = false;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const coalesce = init.coalesceMs ?? 20;

  const pipe = new ExabgpPipe({
    input: init.input,
    output: init.output,
    log: init.log,
    maxInFlight: init.maxInFlight,
    ackTimeoutMs: init.ackTimeoutMs,
    onAnswer: (kind) => metrics.exabgpAnswers.inc({ kind }),
    onNeighborUp: () => {
      // A session that comes back gets the whole set again (ExaBGP would resend its table; this makes it explicit).
      if (!started) return;
      metrics.resends.inc({ cause: 'session_up' });
      pipe.send(policy.announce(table.held().values()));
    },
  });

  const gauge = (): void => {
    metrics.routes.set({ family: '4' }, table.count(4));
    metrics.routes.set({ family: '6' }, table.count(6));
  };

  /** Tells ExaBGP what changed since the last sync (the first time: everything). */
  const sync = (): void => {
    timer = null;
    if (!known || stopped) return;
    if (!started) {
      // ExaBGP may hold routes of an earlier feed (it keeps them when its process restarts, and in the node a new
      // relay connection is a new feed), so its out-table is cleared and the full set follows.
      started = true;
      metrics.restarts.inc();
      metrics.resends.inc({ cause: 'start' });
      const all = table.resync();
      pipe.send(['clear adj-rib out', ...policy.announce(all)]);
      metrics.count(metrics.announced, all);
    } else {
      const d = table.flush();
      // Withdrawals first, so the receiving router's prefix limit is never crossed in between.
      pipe.send([...policy.withdraw(d.withdrawn), ...policy.announce(d.announced)]);
      metrics.count(metrics.announced, d.announced);
      metrics.count(metrics.withdrawn, d.withdrawn);
    }
    gauge();
  };
  const schedule = (): void => {
    if (timer === null && !stopped) timer = setTimeout(sync, coalesce);
  };

  await init.source.start({
    snapshot(entries) {
      table.replaceAll(entries);
      if (known) metrics.resends.inc({ cause: 'snapshot' });
      known = true;
      schedule();
    },
    changes(changes) {
      for (const c of changes) {
        if (c.op === 'remove') table.remove(c.ip);
        else table.set(c.ip, c.lastHitMs);
      }
      if (known) schedule();
    },
    state(connected, error) {
      init.onSourceState?.(connected);
      if (!connected) init.log(`sipwarden bgp-feed: ${init.source.name} unavailable (${error ?? 'closed'}); keeping the ${table.held().size} routes announced, retrying`);
    },
  });

  return {
    done: pipe.closed,
    metrics,
    held: () => table.held(),
    idle: () => pipe.idle(),
    async stop() {
      if (stopped) return;
      stopped = true;
      if (timer) clearTimeout(timer);
      await init.source.stop();
      pipe.close();
    },
  };
}
