/**
 * `sipwarden bgp-feed`: ExaBGP runs this as its API process. It follows the node's block set through
 * `/api/v1/blocklist/stream` and writes ExaBGP API commands on stdout: the full set once it knows it, then
 * batched announces and withdrawals for the changes (see ExabgpPipe for the flow control). It reads ExaBGP's answers on stdin (`done`, `error`, neighbor state) and
 * announces everything again when a BGP session comes back up. While the API is unreachable it keeps what ExaBGP
 * holds: it announces nothing it does not know and withdraws nothing it has not been told to.
 */
import { createServer, type Server } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Endpoint } from '../lifecycle.js';
import { ExabgpPipe } from './exabgp-pipe.js';
import { RoutePolicy, type RefusalReason, type Route, type RouteSettings } from './routes.js';
import { createStreamClient, type StreamChange } from './stream-client.js';
import { RouteTable } from './table.js';

/** The feed's own metrics (it is a process of its own, served on `--bgp-metrics-listen`). */
export class FeedMetrics {
  readonly registry = new Registry();
  readonly routes = new Gauge({ name: 'sipwarden_bgp_routes', help: 'Routes announced, per family', labelNames: ['family'] as const, registers: [this.registry] });
  readonly announced = new Counter({ name: 'sipwarden_bgp_announcements_total', help: 'Routes announced (prefixes, batched into ExaBGP commands)', registers: [this.registry] });
  readonly withdrawn = new Counter({ name: 'sipwarden_bgp_withdrawals_total', help: 'Routes withdrawn (prefixes)', registers: [this.registry] });
  readonly refusals = new Counter({ name: 'sipwarden_bgp_refusals_total', help: 'Blocked addresses not announced, by reason', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly restarts = new Counter({ name: 'sipwarden_bgp_feed_resends_total', help: 'Full-set sends (start, session up, new snapshot)', labelNames: ['cause'] as const, registers: [this.registry] });
  readonly exabgpAnswers = new Counter({ name: 'sipwarden_bgp_exabgp_answers_total', help: 'Answers read from ExaBGP', labelNames: ['kind'] as const, registers: [this.registry] });
  readonly streamConnected = new Gauge({ name: 'sipwarden_bgp_stream_connected', help: '1 while the block-set stream is connected', registers: [this.registry] });
}

/** Inputs of {@link createBgpFeed}. */
export interface BgpFeedInit {
  apiUrl: string;
  apiToken: string | null;
  settings: RouteSettings;
  /** ExaBGP's pipe to us (its answers) and from us (our commands). */
  input: Readable;
  output: Writable;
  /** Human lines for ExaBGP's log (stderr). */
  log: (line: string) => void;
  metricsListen?: Endpoint | null;
  /** Delay that coalesces a burst of changes into one write (ms). */
  coalesceMs?: number;
  minBackoffMs?: number;
  /** ExaBGP commands unacknowledged at a time (4) and how long to wait for an acknowledgement (10 s). */
  maxInFlight?: number;
  ackTimeoutMs?: number;
}

/** The running feed. */
export interface BgpFeed {
  /** Resolves when ExaBGP closes our stdin (it stopped or restarts us). */
  readonly done: Promise<void>;
  /** What ExaBGP was told it should hold. */
  held(): ReadonlyMap<string, Route>;
  /** Resolves once every command so far was written and acknowledged. */
  idle(): Promise<void>;
  stop(): Promise<void>;
  readonly metrics: FeedMetrics;
}

/** Starts the feed: connects to the stream, reads ExaBGP's answers. */
export async function createBgpFeed(init: BgpFeedInit): Promise<BgpFeed> {
  const policy = new RoutePolicy(init.settings);
  const metrics = new FeedMetrics();
  const refusedOnce = new Set<string>();
  const onRefused = (ip: string, reason: RefusalReason): void => {
    const key = `${reason} ${ip}`;
    if (refusedOnce.has(key)) return;
    if (refusedOnce.size > 100_000) refusedOnce.clear();
    refusedOnce.add(key);
    metrics.refusals.inc({ reason });
  };
  const table = new RouteTable(policy, onRefused);
  /** True once the block set is known (a snapshot or a resume); until then nothing is announced or withdrawn. */
  let known = false;
  let started = false;
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
      metrics.restarts.inc({ cause: 'session_up' });
      pipe.send(policy.announce(table.held().values()));
    },
  });

  const gauge = (): void => {
    let n4 = 0;
    for (const r of table.held().values()) if (r.family === 4) n4++;
    metrics.routes.set({ family: '4' }, n4);
    metrics.routes.set({ family: '6' }, table.held().size - n4);
  };

  /** Tells ExaBGP what changed since the last sync (the first time: everything). */
  const sync = (): void => {
    timer = null;
    if (!known) return;
    if (!started) {
      // ExaBGP may hold routes of an earlier run of this process (it keeps them when it restarts us), so its
      // out-table is cleared and the full set follows.
      started = true;
      metrics.restarts.inc({ cause: 'start' });
      const all = table.resync();
      pipe.send(['clear adj-rib out', ...policy.announce(all)]);
      metrics.announced.inc(all.length);
    } else {
      const d = table.flush();
      // Withdrawals first, so the receiving router's prefix limit is never crossed in between.
      pipe.send([...policy.withdraw(d.withdrawn), ...policy.announce(d.announced)]);
      metrics.announced.inc(d.announced.length);
      metrics.withdrawn.inc(d.withdrawn.length);
    }
    gauge();
  };
  const schedule = (): void => {
    if (timer === null) timer = setTimeout(sync, coalesce);
  };

  const client = createStreamClient({
    url: init.apiUrl,
    token: init.apiToken,
    minBackoffMs: init.minBackoffMs,
    handlers: {
      snapshot(entries) {
        table.replaceAll(entries.map((e) => ({ ip: e.ip, lastHitMs: e.last_hit_ms })));
        if (known) metrics.restarts.inc({ cause: 'snapshot' });
        known = true;
        schedule();
      },
      changes(changes: StreamChange[]) {
        for (const c of changes) {
          if (c.op === 'remove') table.remove(c.ip);
          else table.set(c.ip, c.last_hit_ms);
        }
        if (known) schedule();
      },
      state(connected, error) {
        metrics.streamConnected.set(connected ? 1 : 0);
        if (!connected) init.log(`sipwarden bgp-feed: block-set stream unavailable (${error ?? 'closed'}); keeping the ${table.held().size} routes announced, retrying`);
      },
    },
  });
  const done = pipe.closed;

  let server: Server | null = null;
  if (init.metricsListen) {
    const srv = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      void metrics.registry.metrics().then((t) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(t));
    });
    const at = init.metricsListen;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(at.port, at.ip, () => resolve());
    });
    server = srv;
  }
  await client.start();

  return {
    done,
    metrics,
    held: () => table.held(),
    idle: () => pipe.idle(),
    async stop() {
      if (timer) clearTimeout(timer);
      await client.stop();
      pipe.close();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    },
  };
}
