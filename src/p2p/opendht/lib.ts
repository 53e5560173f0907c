/**
 * The OpenDHT C API (`libopendht-c.so.2`, Debian package `libopendht-c2`) bound with koffi. Only the calls the
 * engine needs are declared. Loaded in the OpenDHT worker thread only: callbacks that OpenDHT's own threads make
 * are queued by koffi onto the thread that loaded it, so none of them ever runs on the capture thread.
 */
import koffi from 'koffi';
import { ERROR_CODES, SipwardenError } from '../../errors.js';

/** Opaque native pointer as koffi hands it back. */
export type Ptr = unknown;
/** `dht_infohash` as koffi decodes it. */
export interface InfoHash {
  d: number[];
}
/** Registered JS callback handle (koffi.register's result). */
export type Callback = bigint;

/** The bound library: thin typed wrappers, no policy. */
export interface OpenDhtLib {
  version(): string;
  runnerNew(): Ptr;
  /** 0 on success, else an errno-style code. */
  runConfig(runner: Ptr, port: number, cfg: RunnerConfigInit): number;
  bootstrap(runner: Ptr, host: string, service: string): void;
  hash(key: string): InfoHash;
  printHash(h: InfoHash): string;
  nodeId(runner: Ptr): string;
  boundPort(runner: Ptr, family: 4 | 6): number;
  listen(runner: Ptr, h: InfoHash, cb: Callback): Ptr;
  cancelListen(runner: Ptr, h: InfoHash, token: Ptr): void;
  /** Puts `data` as a plain value; `done` is called (from OpenDHT's thread, queued) with ok. */
  put(runner: Ptr, h: InfoHash, data: Buffer, done: Callback): void;
  /** Sends a ping to a raw `sockaddr`; `done` is called with ok. */
  ping(runner: Ptr, sockaddr: Buffer, done: Callback): void;
  shutdown(runner: Ptr, done: Callback): void;
  deleteRunner(runner: Ptr): void;
  /** Copies a value's bytes, or returns its size alone when it exceeds `max` (nothing copied). */
  valueBytes(value: Ptr, max: number): Buffer | number;
  registerValueCb(fn: (value: Ptr, expired: boolean) => boolean): Callback;
  registerDoneCb(fn: (ok: boolean) => void): Callback;
  registerShutdownCb(fn: () => void): Callback;
  unregister(cb: Callback): void;
}

/** What `dht_runner_run_config` is told; everything else keeps OpenDHT's defaults. */
export interface RunnerConfigInit {
  /** Announce and listen for nodes on the local network (multicast), as SentryPeer does. */
  peerDiscovery: boolean;
  peerPublish: boolean;
}

/** Names the library file so the error can say which Debian package brings it. */
export const LIBRARY_FILE = 'libopendht-c.so.2';
export const LIBRARY_PACKAGE = 'libopendht-c2';

/**
 * Loads koffi and the C library. Throws `SW_OPENDHT_UNAVAILABLE` naming the missing piece; the engine turns it
 * into the operator's one-line error.
 */
export function loadOpenDht(file: string = LIBRARY_FILE): OpenDhtLib {
  let lib: ReturnType<typeof koffi.load>;
  try {
    lib = koffi.load(file);
  } catch (err) {
    throw new SipwardenError(ERROR_CODES.OPENDHT_UNAVAILABLE, `cannot load ${file} (${LIBRARY_FILE}): ${err instanceof Error ? err.message : String(err)}`, 2);
  }

  const InfoHashT = koffi.struct('dht_infohash', { d: koffi.array('uint8_t', 20) });
  koffi.struct('dht_data_view', { data: 'const uint8_t *', size: 'size_t' });
  const IdentityT = koffi.struct('dht_identity', { privatekey: 'void *', certificate: 'void *' });
  const NodeConfigT = koffi.struct('dht_node_config', {
    node_id: InfoHashT, network: 'uint32_t', is_bootstrap: 'bool', maintain_storage: 'bool', persist_path: 'const char *',
  });
  const SecureConfigT = koffi.struct('dht_secure_config', { node_config: NodeConfigT, id: IdentityT });
  koffi.struct('dht_runner_config', {
    dht_config: SecureConfigT, threaded: 'bool', proxy_server: 'const char *', push_node_id: 'const char *',
    push_token: 'const char *', push_topic: 'const char *', push_platform: 'const char *', peer_discovery: 'bool',
    peer_publish: 'bool', server_ca: 'void *', client_identity: IdentityT, log: 'bool',
  });
  const ValueCbT = koffi.proto('bool dht_value_cb(void *value, bool expired, void *user_data)');
  const DoneCbT = koffi.proto('void dht_done_cb(bool ok, void *user_data)');
  const ShutdownCbT = koffi.proto('void dht_shutdown_cb(void *user_data)');

  const f = {
    version: lib.func('const char *dht_version(void)'),
    configDefault: lib.func('void dht_runner_config_default(_Out_ dht_runner_config *config)'),
    runnerNew: lib.func('void *dht_runner_new(void)'),
    runConfig: lib.func('int dht_runner_run_config(void *runner, uint16_t port, const dht_runner_config *config)'),
    bootstrap: lib.func('void dht_runner_bootstrap(void *runner, const char *host, const char *service)'),
    hashFromString: lib.func('void dht_infohash_get_from_string(_Out_ dht_infohash *h, const char *str)'),
    hashPrint: lib.func('const char *dht_infohash_print(const dht_infohash *h)'),
    nodeId: lib.func('dht_infohash dht_runner_get_node_id(void *runner)'),
    boundPort: lib.func('uint16_t dht_runner_get_bound_port(void *runner, uint16_t af)'),
    listen: lib.func('void *dht_runner_listen(void *runner, const dht_infohash *hash, dht_value_cb *cb, dht_shutdown_cb *done_cb, void *user)'),
    cancelListen: lib.func('void dht_runner_cancel_listen(void *runner, const dht_infohash *hash, void *token)'),
    tokenDelete: lib.func('void dht_op_token_delete(void *token)'),
    valueNew: lib.func('void *dht_value_new(const uint8_t *data, size_t size)'),
    valueUnref: lib.func('void dht_value_unref(void *value)'),
    valueData: lib.func('dht_data_view dht_value_get_data(void *value)'),
    put: lib.func('void dht_runner_put(void *runner, const dht_infohash *hash, void *value, dht_done_cb *done, void *user, bool permanent)'),
    ping: lib.func('void dht_runner_ping(void *runner, void *addr, uint32_t addr_len, dht_done_cb *done, void *user)'),
    shutdown: lib.func('void dht_runner_shutdown(void *runner, dht_shutdown_cb *cb, void *user)'),
    deleteRunner: lib.func('void dht_runner_delete(void *runner)'),
  };

  return {
    version: () => f.version() as string,
    runnerNew: () => f.runnerNew(),
    runConfig(runner, port, init) {
      const cfg: Record<string, unknown> = {};
      f.configDefault(cfg);
      cfg.threaded = true;
      cfg.peer_discovery = init.peerDiscovery;
      cfg.peer_publish = init.peerPublish;
      cfg.log = false;
      return f.runConfig(runner, port, cfg) as number;
    },
    bootstrap: (runner, host, service) => void f.bootstrap(runner, host, service),
    hash(key) {
      const h = {} as InfoHash;
      f.hashFromString(h, key);
      return h;
    },
    printHash: (h) => f.hashPrint(h) as string,
    nodeId: (runner) => f.hashPrint(f.nodeId(runner)) as string,
    boundPort: (runner, family) => f.boundPort(runner, family === 4 ? 2 : 10) as number,
    listen: (runner, h, cb) => f.listen(runner, h, cb, null, null),
    cancelListen(runner, h, token) {
      f.cancelListen(runner, h, token);
      f.tokenDelete(token);
    },
    put(runner, h, data, done) {
      const v = f.valueNew(data, data.byteLength);
      try {
        f.put(runner, h, v, done, null, false);
      } finally {
        f.valueUnref(v);
      }
    },
    ping: (runner, sockaddr, done) => void f.ping(runner, sockaddr, sockaddr.byteLength, done, null),
    shutdown: (runner, done) => void f.shutdown(runner, done, null),
    deleteRunner: (runner) => void f.deleteRunner(runner),
    valueBytes(value, max) {
      const view = f.valueData(value) as { data: unknown; size: number | bigint };
      const size = Number(view.size);
      if (size > max) return size;
      if (size === 0) return Buffer.alloc(0);
      return Buffer.from(koffi.decode(view.data, 'uint8_t', size) as Uint8Array | number[]);
    },
    registerValueCb: (fn) => koffi.register(fn, koffi.pointer(ValueCbT)),
    registerDoneCb: (fn) => koffi.register(fn, koffi.pointer(DoneCbT)),
    registerShutdownCb: (fn) => koffi.register(fn, koffi.pointer(ShutdownCbT)),
    unregister: (cb) => koffi.unregister(cb),
  };
}
