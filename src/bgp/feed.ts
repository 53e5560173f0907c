/**
 * `sipwarden bgp-feed`: ExaBGP runs this as its API process. It follows the node's block set through
 * `/api/v1/blocklist/stream` and writes ExaBGP API commands on stdout: the full set once it knows it, then an
 * announce or withdraw for every change. It reads ExaBGP's answers on stdin (`done`, `error`, neighbor state) and
 * announces everything again when a BGP session comes back up. While the API is unreachable it keeps what ExaBGP
 * holds: it announces nothing it does not know and withdraws nothing it has not been told to.
 */
import { createServer, type Server } from 'node:http';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Endpoint } from '../lifecycle.js';
import { RoutePolicy, type BlockedAddress, type RefusalReason, type Route, type RouteSettings } from './routes.js';
import { createStreamClient, type StreamChange, type StreamEntry } from './stream-client.js';

/** The feed's own metrics (it is a process of its own, served on `--bgp-metrics-listen`). */
export class FeedMetrics {
  readonly registry = new Registry();
  readonly routes = new Gauge({ name: 'sipwarden_bgp_routes', help: 'Routes announced, per family', labelNames: ['family'] as const, registers: [this.registry] });
  readonly announced = new Counter({ name: 'sipwarden_bgp_announcements_total', help: 'Announce commands written', registers: [this.registry] });
  readonly withdrawn = new Counter({ name: 'sipwarden_bgp_withdrawals_total', help: 'Withdraw commands written', registers: [this.registry] });
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
}

/** The running feed. */
export interface BgpFeed {
  /** Resolves when ExaBGP closes our stdin (it stopped or restarts us). */
  readonly done: Promise<void>;
  /** What ExaBGP was told it should hold. */
  held(): ReadonlyMap<string, Route>;
  stop(): Promise<void>;
  readonly metrics: FeedMetrics;
}

/** Starts the feed: connects to the stream, reads ExaBGP's answers. */
export async function createBgpFeed(init: BgpFeedInit): Promise<BgpFeed> {
  const policy = new RoutePolicy(init.settings);
  const metrics = new FeedMetrics();
  const blocked = new Map<string, BlockedAddress>();
  let held = new Map<string, Route>();
  /** True once the block set is known (a snapshot or a resume); until then nothing is announced or withdrawn. */
  let known = false;
  let cleared = false;
  let timer: NodeJS.Timeout | null = null;
  const refusedOnce = new Set<string>();
  const coalesce = init.coalesceMs ?? 20;

  const write = (lines: string[]): void => {
    if (lines.length) init.output.write(lines.join('\n') + '\n');
  };
  const gauge = (): void => {
    let n4 = 0;
    for (const r of held.values()) if (r.family === 4) n4++;
    metrics.routes.set({ family: '4' }, n4);
    metrics.routes.set({ family: '6' }, held.size - n4);
  };
  const onRefused = (ip: string, reason: RefusalReason): void => {
    const key = `${reason} ${ip}`;
    if (refusedOnce.has(key)) return;
    if (refusedOnce.size > 100_000) refusedOnce.clear();
    refusedOnce.add(key);
    metrics.refusals.inc({ reason });
  };

  /** Brings ExaBGP from `held` to what the block set wants now. */
  const sync = (): void => {
    timer = null;
    if (!known) return;
    const wanted = policy.routes(blocked.values(), onRefused);
    const d = policy.diff(held, wanted);
    // The first time: ExaBGP may hold routes of an earlier run of this process (it keeps them when it restarts
    // us), so its out-table is cleared and the full set follows in the same write.
    const prefix = cleared ? [] : ['clear adj-rib out'];
    if (!cleared) {
      cleared = true;
      metrics.restarts.inc({ cause: 'start' });
      write([...prefix, ...[...wanted.values()].map((r) => policy.announce(r))]);
      metrics.announced.inc(wanted.size);
    } else {
      write(d.commands);
      metrics.announced.inc(d.announced.length);
      metrics.withdrawn.inc(d.withdrawn.length);
    }
    held = wanted;
    gauge();
  };
  const schedule = (): void => {
    if (timer === null) timer = setTimeout(sync, coalesce);
  };

  const apply = (e: StreamEntry): void => void blocked.set(e.ip, { ip: e.ip, lastHitMs: e.last_hit_ms });
  const client = createStreamClient({
    url: init.apiUrl,
    token: init.apiToken,
    minBackoffMs: init.minBackoffMs,
    handlers: {
      snapshot(entries) {
        blocked.clear();
        for (const e of entries) apply(e);
        if (known) metrics.restarts.inc({ cause: 'snapshot' });
        known = true;
        schedule();
      },
      changes(changes: StreamChange[]) {
        for (const c of changes) {
          if (c.op === 'remove') blocked.delete(c.ip);
          else apply(c);
        }
        if (known) schedule();
      },
      state(connected, error) {
        metrics.streamConnected.set(connected ? 1 : 0);
        if (!connected) init.log(`sipwarden bgp-feed: block-set stream unavailable (${error ?? 'closed'}); keeping the ${held.size} routes announced, retrying`);
      },
    },
  });

  // ExaBGP's answers: `done`/`error` per command, and neighbor state changes (with `neighbor-changes`).
  const rl = createInterface({ input: init.input, crlfDelay: Infinity });
  const done = new Promise<void>((resolve) => rl.on('close', resolve));
  rl.on('line', (raw) => {
    const line = raw.trim();
    if (line === 'done') metrics.exabgpAnswers.inc({ kind: 'done' });
    else if (line === 'error') {
      metrics.exabgpAnswers.inc({ kind: 'error' });
      init.log('sipwarden bgp-feed: ExaBGP refused a command');
    } else if (line === 'shutdown') metrics.exabgpAnswers.inc({ kind: 'shutdown' });
    else if (/^neighbor \S+ up$/.test(line)) {
      metrics.exabgpAnswers.inc({ kind: 'neighbor_up' });
      // A session that comes back gets the whole set again (ExaBGP would resend its table; this makes it explicit).
      if (known && cleared) {
        metrics.restarts.inc({ cause: 'session_up' });
        write([...held.values()].map((r) => policy.announce(r)));
      }
    } else if (/^neighbor \S+ (down|connected)/.test(line)) metrics.exabgpAnswers.inc({ kind: 'neighbor_state' });
    else if (line !== '') {
      metrics.exabgpAnswers.inc({ kind: 'unknown' });
      init.log(`sipwarden bgp-feed: ignoring an unexpected line from ExaBGP (${line.length > 80 ? line.slice(0, 80) + '…' : line})`);
    }
  });

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
    held: () => held,
    async stop() {
      if (timer) clearTimeout(timer);
      await client.stop();
      rl.close();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    },
  };
}
