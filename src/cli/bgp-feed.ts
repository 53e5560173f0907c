/**
 * `sipwarden bgp-feed`: the process ExaBGP runs for the BGP blackhole feed (docs/BGP.md). Two modes:
 * - `--socket PATH` (or a configuration with `bgp_feed_socket`): a relay to the feed the node runs itself on that
 *   unix socket; it carries lines between ExaBGP and the node and decides nothing.
 * - `--api URL` (or the configuration's first `--api-listen` address and token): the feed itself, following the
 *   node's block set through `/api/v1/blocklist/stream`, with its metrics on `--bgp-metrics-listen`.
 * Either way it writes ExaBGP API commands on stdout and reads ExaBGP's answers on stdin.
 */
import { createServer, type Server } from 'node:http';
import { resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import type { Config } from '../config/types.js';
import { createBgpFeed, FeedMetrics } from '../bgp/feed.js';
import { startRelay } from '../bgp/relay.js';
import { routeSettingsFromConfig } from '../bgp/routes.js';
import { apiStreamSource } from '../bgp/source.js';

/** What a `bgp-feed` command line asks for besides the ordinary settings. */
export interface FeedArgs {
  /** `--api URL`: follow this node's stream. */
  apiUrl: string | null;
  /** `--socket PATH`: relay to the node's feed socket (absolute). */
  socket: string | null;
  rest: string[];
}

/**
 * Takes `--api URL` / `--api=URL` and `--socket PATH` / `--socket=PATH` out of a `bgp-feed` command line (for the
 * node, `--api` is a switch), leaving the rest for the ordinary settings parser.
 */
export function splitFeedArgs(argv: readonly string[], cwd: string = process.cwd()): FeedArgs {
  const rest: string[] = [];
  let apiUrl: string | null = null;
  let socket: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--api=')) apiUrl = a.slice('--api='.length);
    else if (a === '--api' && i + 1 < argv.length && /^https?:\/\//i.test(argv[i + 1]!)) apiUrl = argv[++i]!;
    else if (a.startsWith('--socket=')) socket = a.slice('--socket='.length);
    else if (a === '--socket') {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('-')) throw new ConfigError('--socket', 'needs a PATH (the node\'s --bgp-feed-socket)');
      socket = argv[++i]!;
    } else rest.push(a);
  }
  if (socket !== null) {
    if (socket.trim() === '') throw new ConfigError('--socket', 'needs a PATH (the node\'s --bgp-feed-socket)');
    if (apiUrl !== null) throw new ConfigError('--socket', 'give either --socket (the node runs the feed) or --api (this process follows the API), not both');
    socket = resolve(cwd, socket);
  }
  if (apiUrl !== null) {
    let u: URL;
    try {
      u = new URL(apiUrl);
    } catch {
      throw new ConfigError('--api', `invalid URL ${JSON.stringify(apiUrl.slice(0, 80))} (expected http(s)://host:port)`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError('--api', 'expected an http:// or https:// URL');
  }
  return { apiUrl, socket, rest };
}

/** The API URL of the node a configuration describes: its first API listener, wildcards read as loopback. */
export function apiUrlOf(config: Config): string {
  const e = config.apiListen[0];
  if (!e) throw new ConfigError('--api', 'no --api URL and no --api-listen in the configuration');
  const ip = e.ip === '0.0.0.0' ? '127.0.0.1' : e.ip === '::' ? '::1' : e.ip;
  return `http://${ip.includes(':') ? `[${ip}]` : ip}:${e.port}`;
}

/**
 * Which mode a command line and configuration select: `--socket`, else `--api`, else the configuration's
 * `bgp_feed_socket`, else its API.
 */
export function feedMode(config: Pick<Config, 'bgpFeedSocket' | 'apiListen'>, args: Pick<FeedArgs, 'apiUrl' | 'socket'>): { socket: string } | { apiUrl: string } {
  if (args.socket !== null) return { socket: args.socket };
  if (args.apiUrl !== null) return { apiUrl: args.apiUrl };
  if (config.bgpFeedSocket !== null) return { socket: config.bgpFeedSocket };
  return { apiUrl: apiUrlOf(config as Config) };
}

/** Runs until ExaBGP closes our stdin (or a signal); resolves the exit code. */
export async function runBgpFeed(config: Config, args: Pick<FeedArgs, 'apiUrl' | 'socket'>): Promise<number> {
  const log = (line: string): void => void process.stderr.write(line + '\n');
  const mode = feedMode(config, args);
  if ('socket' in mode) {
    const relay = startRelay({ path: mode.socket, input: process.stdin, output: process.stdout, log });
    log(`sipwarden bgp-feed: relaying ExaBGP to the node's feed at ${mode.socket}`);
    // ExaBGP stops its processes with SIGTERM and waits for them to exit; stdin may still be open then.
    const exit = (): void => {
      relay.stop();
      void relay.done.then(() => process.exit(0));
    };
    process.once('SIGTERM', exit);
    process.once('SIGINT', exit);
    await relay.done;
    process.stdin.destroy();
    return 0;
  }

  const metrics = new FeedMetrics();
  const feed = await createBgpFeed({
    source: apiStreamSource({ url: mode.apiUrl, token: config.apiTokens[0] ?? null }),
    settings: routeSettingsFromConfig(config),
    input: process.stdin,
    output: process.stdout,
    log,
    metrics,
    onSourceState: (connected) => metrics.connected.set(connected ? 1 : 0),
  });
  let server: Server | null = null;
  const at = config.bgpMetricsListen;
  if (at) {
    const srv = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      void metrics.registry.metrics().then((t) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(t));
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(at.port, at.ip, () => resolve());
    });
    server = srv;
  }
  log(`sipwarden bgp-feed: following ${mode.apiUrl}/api/v1/blocklist/stream`);
  const stop = async (): Promise<void> => {
    await feed.stop();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  };
  process.once('SIGTERM', () => void stop().then(() => process.exit(0)));
  process.once('SIGINT', () => void stop().then(() => process.exit(0)));
  await feed.done;
  await stop();
  return 0;
}
