/**
 * The BGP feed inside the node (`--bgp-feed-socket PATH`): a unix socket that ExaBGP's API process, the relay
 * `sipwarden bgp-feed --socket PATH`, connects to. Each connection is a feed of its own, fed directly by the
 * node's block set (the change stream the firewall enforcer and the API stream share): on connect ExaBGP's
 * out-table is cleared and the full set sent, then each change follows. Several relays (two route servers, each
 * with its ExaBGP) each get their own feed.
 */
import { accessSync, constants, chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { BlockSet } from '../enforce/blockset.js';
import { ConfigError, ERROR_CODES, osCause, SipwardenError } from '../errors.js';
import type { Startable } from '../lifecycle.js';
import type { Logger } from '../log.js';
import { createBgpFeed, type BgpFeed, type BgpFeedInit, type FeedMetrics } from './feed.js';
import type { RouteSettings } from './routes.js';
import { blockSetSource } from './source.js';

/** The setting, as error lines name it. */
const FLAG = '--bgp-feed-socket';
/** Longest unix socket path (sun_path holds 108 bytes with the terminating NUL). */
export const SOCKET_PATH_MAX = 107;

/**
 * Checks at start-up, before anything opens, that `path` can be a socket: short enough, its directory exists
 * and is writable, and it is absent or a socket (a stale one is removed when listening). One line, exit 2.
 */
export function checkFeedSocketPath(path: string): void {
  if (Buffer.byteLength(path) > SOCKET_PATH_MAX) throw new ConfigError(FLAG, `${path}: longer than ${SOCKET_PATH_MAX} bytes, the limit of a unix socket path`);
  const dir = dirname(path);
  let isDir: boolean;
  try {
    isDir = lstatSync(dir).isDirectory();
    if (isDir) accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new ConfigError(FLAG, `${dir}: ${osCause(err)}`);
  }
  if (!isDir) throw new ConfigError(FLAG, `${dir}: ENOTDIR: not a directory`);
  let isSocket = true;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // absent
  }
  if (!isSocket) throw new ConfigError(FLAG, `${path}: exists and is not a socket`);
}

/** Options of {@link createFeedSocketServer}. */
export interface FeedSocketServerInit {
  path: string;
  blockSet: BlockSet;
  settings: RouteSettings;
  metrics: FeedMetrics;
  logger: Logger;
  /** Passed to each feed (tests shorten the timings). */
  feed?: Pick<BgpFeedInit, 'coalesceMs' | 'maxInFlight' | 'ackTimeoutMs'>;
}

/** The node's feed socket. */
export interface FeedSocketServer extends Startable {
  /** Relays connected now. */
  readonly relays: number;
}

/** Is a process serving the socket at `path`? (A stale file refuses the connection.) */
function inUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Builds the feed socket server. */
export function createFeedSocketServer(init: FeedSocketServerInit): FeedSocketServer {
  const { path, logger, metrics } = init;
  const sessions = new Map<Socket, Promise<BgpFeed | null>>();
  let server: Server | null = null;
  let stopping = false;

  const onConnection = (sock: Socket): void => {
    if (stopping) {
      sock.destroy();
      return;
    }
    metrics.connected.inc();
    logger.info({ relays: sessions.size + 1 }, 'bgp-feed relay connected: clearing its ExaBGP routes and sending the full set');
    sock.on('error', (err: Error) => logger.debug({ err: err.message }, 'bgp-feed relay connection error'));
    const feed = createBgpFeed({
      ...init.feed,
      source: blockSetSource(init.blockSet),
      settings: init.settings,
      input: sock,
      output: sock,
      log: (line) => logger.warn(line.replace(/^sipwarden bgp-feed: /, 'bgp feed: ')),
      metrics,
    }).catch((err: unknown) => {
      logger.error({ err: (err as Error).message }, 'bgp feed failed to start');
      sock.destroy();
      return null;
    });
    sessions.set(sock, feed);
    sock.once('close', () => {
      sessions.delete(sock);
      metrics.connected.dec();
      if (!stopping) logger.info({ relays: sessions.size }, 'bgp-feed relay disconnected');
      void feed.then((f) => f?.stop());
    });
  };

  return {
    get relays() {
      return sessions.size;
    },
    async start() {
      if (server) return;
      stopping = false;
      if (await inUse(path)) throw new SipwardenError(ERROR_CODES.LISTEN_FAILED, `${FLAG} ${path}: another process serves this socket`, 1);
      try {
        if (lstatSync(path).isSocket()) unlinkSync(path); // left by a node that did not stop cleanly
      } catch {
        /* absent */
      }
      const srv = createServer(onConnection);
      await new Promise<void>((resolve, reject) => {
        srv.once('error', (err) => reject(new SipwardenError(ERROR_CODES.LISTEN_FAILED, `cannot listen ${FLAG} ${path}: ${osCause(err)}`, 1, { cause: err })));
        srv.listen(path, () => resolve());
      });
      // Owner and group: ExaBGP's user needs write access, through the group (docs/BGP.md).
      chmodSync(path, 0o660);
      server = srv;
      logger.info({ path }, 'BGP feed socket listening');
    },
    async stop() {
      if (!server) return;
      stopping = true;
      const srv = server;
      server = null;
      const feeds = [...sessions.entries()];
      for (const [sock] of feeds) sock.destroy();
      await Promise.all(feeds.map(([, f]) => f.then((x) => x?.stop())));
      await new Promise<void>((r) => srv.close(() => r()));
      try {
        unlinkSync(path);
      } catch {
        /* already gone */
      }
    },
  };
}
