/** The OpenDHT engine (main thread) and its worker thread: start data and method map. Plain data, structured-cloned. */
import type { OpenDhtRejectReason, SentryPeerValue } from './value.js';

/** A bootstrap node as `dht_runner_bootstrap` takes it. */
export interface BootstrapHost {
  host: string;
  port: number;
}

/** workerData of the OpenDHT worker. */
export interface OpenDhtWorkerInit {
  /** The C library to load (default `libopendht-c.so.2`, found by the dynamic loader). */
  libraryFile?: string;
  /** UDP port to bind (v4 and v6); 0 picks one. */
  port: number;
  bootstrap: BootstrapHost[];
  peerDiscovery: boolean;
  /** Our `created_by_node_id`: values carrying it are our own and ignored. */
  ourNodeId: string;
  /** Values accepted per second per sending node id, and from everyone together. */
  perSenderPerSecond: number;
  totalPerSecond: number;
  /** Interval of the bootstrap reachability ping, ms. */
  pingIntervalMs: number;
}

/** Why a local value was not published. */
export type PublishSkipReason = 'oversize' | 'not_running';

/** Cumulative counters the worker reports (the engine turns deltas into metrics). */
export interface OpenDhtCounters {
  received: number;
  accepted: number;
  rejected: Partial<Record<OpenDhtRejectReason, number>>;
  published: number;
  publishFailed: number;
  publishSkipped: Partial<Record<PublishSkipReason, number>>;
}

/** Reachability of the bootstrap nodes, from pings. */
export type BootstrapState = 'starting' | 'connected' | 'unreachable' | 'none';

/** What the worker answers once the native node runs. */
export interface OpenDhtStarted {
  dhtNodeId: string;
  port4: number;
  port6: number;
  version: string;
}

/**
 * The worker's method map, shared by both sides through `src/rpc/`. `started` rejects with
 * `SW_OPENDHT_UNAVAILABLE` (no C library) or `SW_LISTEN_FAILED` (the node could not start on its port).
 */
export interface OpenDhtProtocol {
  calls: {
    started: { params: undefined; result: OpenDhtStarted };
    /** Stops the node; answers the last counters, then the thread ends. */
    stop: { params: undefined; result: OpenDhtCounters };
  };
  streams: Record<never, never>;
  /** `put`: publish one local value. */
  toWorker: { put: SentryPeerValue };
  fromWorker: {
    /** An accepted value from the network. */
    value: { value: SentryPeerValue; timeUs: number };
    stats: { counters: OpenDhtCounters; bootstrap: BootstrapState };
  };
}
