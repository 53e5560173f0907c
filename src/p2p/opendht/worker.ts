/**
 * The OpenDHT worker thread: owns the native DHT runner (which has threads of its own), listens on SentryPeer's
 * `bad_actors` key, validates every received value, de-duplicates and rate-caps them, and publishes local events.
 * Only accepted values cross to the main thread, so a flood of hostile values costs the capture thread nothing.
 */
import { lookup } from 'node:dns/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { parseIp } from '../../net/ip.js';
import { TokenBucket } from '../rate.js';
import { loadOpenDht, type Callback, type InfoHash, type OpenDhtLib, type Ptr } from './lib.js';
import type { BootstrapState, OpenDhtCounters, OpenDhtProtocol, OpenDhtStarted, OpenDhtWorkerInit, PublishSkipReason } from './protocol.js';
import { ERROR_CODES, SipwardenError } from '../../errors.js';
import { serve } from '../../rpc/index.js';
import { BAD_ACTORS_KEY, MAX_VALUE_BYTES, parseSentryPeerValue, type OpenDhtRejectReason } from './value.js';

/** OpenDHT refuses values above 64 KiB; a larger local value is counted, not sent. */
const MAX_PUT_BYTES = 64 * 1024;
/** Recently accepted event UUIDs (duplicates arrive from several storing nodes and on every re-listen). */
const RECENT_MAX = 100_000;
/** Sender buckets kept before the map is reset (node ids are self-declared: anyone can invent many). */
const SENDERS_MAX = 10_000;
const STATS_INTERVAL_MS = 1_000;
const SHUTDOWN_WAIT_MS = 3_000;

const init = workerData as OpenDhtWorkerInit;
const port = parentPort!;

const counters: OpenDhtCounters = { received: 0, accepted: 0, rejected: {}, published: 0, publishFailed: 0, publishSkipped: {} };
const reject = (r: OpenDhtRejectReason): void => void (counters.rejected[r] = (counters.rejected[r] ?? 0) + 1);
let bootstrapState: BootstrapState = init.bootstrap.length > 0 ? 'starting' : 'none';

/** Insertion-ordered set with a size bound: the oldest half is forgotten when full. */
class RecentSet {
  private set = new Set<string>();
  has(k: string): boolean {
    return this.set.has(k);
  }
  add(k: string): void {
    this.set.add(k);
    if (this.set.size > RECENT_MAX) {
      let n = RECENT_MAX / 2;
      for (const old of this.set) {
        this.set.delete(old);
        if (--n <= 0) break;
      }
    }
  }
}

/** Builds a raw `sockaddr_in`/`sockaddr_in6` (Linux layout) for `dht_runner_ping`. */
function sockaddr(ip: string, p: number): Buffer | null {
  const parsed = parseIp(ip);
  if (parsed === null) return null;
  const b = Buffer.alloc(parsed.family === 4 ? 16 : 28);
  b.writeUInt16LE(parsed.family === 4 ? 2 : 10, 0); // AF_INET / AF_INET6, host order
  b.writeUInt16BE(p, 2);
  b.set(parsed.bytes, parsed.family === 4 ? 4 : 8);
  return b;
}

class DhtService {
  private runner: Ptr = null;
  private token: Ptr = null;
  private readonly key: InfoHash;
  private readonly callbacks: Callback[] = [];
  private readonly recent = new RecentSet();
  private readonly total: TokenBucket;
  private senders = new Map<string, TokenBucket>();
  private timers: NodeJS.Timeout[] = [];
  private onValue!: Callback;
  private onPut!: Callback;
  private onPing!: Callback;

  constructor(private readonly lib: OpenDhtLib) {
    this.key = lib.hash(BAD_ACTORS_KEY);
    this.total = new TokenBucket(init.totalPerSecond, init.totalPerSecond * 2);
  }

  start(): void {
    const lib = this.lib;
    this.onValue = this.keep(lib.registerValueCb((value, expired) => {
      if (!expired) this.received(value);
      return true; // keep listening
    }));
    this.onPut = this.keep(lib.registerDoneCb((ok) => {
      if (ok) counters.published++;
      else counters.publishFailed++;
    }));
    this.onPing = this.keep(lib.registerDoneCb((ok) => {
      if (ok) bootstrapState = 'connected';
      else if (bootstrapState !== 'connected') bootstrapState = 'unreachable';
    }));
    this.runner = lib.runnerNew();
    const rc = lib.runConfig(this.runner, init.port, { peerDiscovery: init.peerDiscovery, peerPublish: init.peerDiscovery });
    if (rc !== 0) throw new SipwardenError(ERROR_CODES.LISTEN_FAILED, `cannot start the OpenDHT node on UDP port ${init.port} (error ${rc})`);
    for (const b of init.bootstrap) lib.bootstrap(this.runner, b.host, String(b.port));
    this.token = lib.listen(this.runner, this.key, this.onValue);
    startedInfo = { dhtNodeId: lib.nodeId(this.runner), port4: lib.boundPort(this.runner, 4), port6: lib.boundPort(this.runner, 6), version: lib.version() };
    this.timers.push(setInterval(() => server.notify('stats', { counters, bootstrap: bootstrapState }), STATS_INTERVAL_MS));
    if (init.bootstrap.length > 0) {
      void this.pingBootstrap();
      this.timers.push(setInterval(() => void this.pingBootstrap(), init.pingIntervalMs));
    }
  }

  private keep(cb: Callback): Callback {
    this.callbacks.push(cb);
    return cb;
  }

  /** Pings each bootstrap node: the only reachability signal the C API offers. */
  private async pingBootstrap(): Promise<void> {
    for (const b of init.bootstrap) {
      try {
        const addrs = await lookup(b.host, { all: true });
        for (const a of addrs) {
          const sa = sockaddr(a.address, b.port);
          if (sa && this.runner !== null) this.lib.ping(this.runner, sa, this.onPing);
        }
      } catch {
        if (bootstrapState !== 'connected') bootstrapState = 'unreachable';
      }
    }
  }

  private received(value: Ptr): void {
    counters.received++;
    const bytes = this.lib.valueBytes(value, MAX_VALUE_BYTES);
    if (typeof bytes === 'number') return reject('oversize');
    const r = parseSentryPeerValue(bytes, { ourNodeId: init.ourNodeId, nowUs: Date.now() * 1000 });
    if (!r.ok) return reject(r.reason);
    const v = r.value;
    if (this.recent.has(v.event_uuid)) return reject('duplicate');
    let bucket = this.senders.get(v.created_by_node_id);
    if (bucket === undefined) {
      if (this.senders.size >= SENDERS_MAX) this.senders = new Map();
      bucket = new TokenBucket(init.perSenderPerSecond, init.perSenderPerSecond * 2);
      this.senders.set(v.created_by_node_id, bucket);
    }
    if (!bucket.take()) return reject('sender_rate');
    if (!this.total.take()) return reject('total_rate');
    this.recent.add(v.event_uuid);
    counters.accepted++;
    server.notify('value', { value: v, timeUs: r.timeUs });
  }

  put(text: string): void {
    const skip = (r: PublishSkipReason): void => void (counters.publishSkipped[r] = (counters.publishSkipped[r] ?? 0) + 1);
    if (this.runner === null) return skip('not_running');
    const data = Buffer.from(text, 'utf8');
    if (data.byteLength > MAX_PUT_BYTES) return skip('oversize');
    this.lib.put(this.runner, this.key, data, this.onPut);
  }

  /** Cancels the listen, shuts the node down (bounded wait), deletes it and releases the callbacks. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const runner = this.runner;
    if (runner === null) return;
    this.runner = null;
    if (this.token !== null) this.lib.cancelListen(runner, this.key, this.token);
    this.token = null;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, SHUTDOWN_WAIT_MS);
      const cb = this.keep(this.lib.registerShutdownCb(() => {
        clearTimeout(timer);
        resolve();
      }));
      this.lib.shutdown(runner, cb);
    });
    this.lib.deleteRunner(runner);
    for (const cb of this.callbacks.splice(0)) this.lib.unregister(cb);
  }
}

let service: DhtService | null = null;
let startedInfo: OpenDhtStarted | null = null;
let startError: unknown = null;

const server = serve<OpenDhtProtocol>(port, {
  calls: {
    started: () => {
      if (startedInfo) return startedInfo;
      throw startError ?? new SipwardenError(ERROR_CODES.INTERNAL, 'the OpenDHT node did not start');
    },
    stop: async () => {
      await (service?.stop() ?? Promise.resolve());
      // The answer is posted before the port closes; then the thread ends.
      setImmediate(() => port.close());
      return counters;
    },
  },
  notes: {
    put: (value) => service?.put(JSON.stringify(value)),
  },
});

try {
  service = new DhtService(loadOpenDht(init.libraryFile));
  service.start();
} catch (err) {
  startError = err;
  startedInfo = null;
  service = null;
}
