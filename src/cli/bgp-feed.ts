/**
 * `sipwarden bgp-feed [--api URL] [options]`: the BGP blackhole feed that ExaBGP runs as its API process. It reads
 * the block set of a running node through `/api/v1/blocklist/stream`: the node named by `--api URL` (with
 * `--api-token`/`--api-token-file`), or the node this configuration describes (its first `--api-listen` address
 * and token), and writes ExaBGP API commands on stdout. See docs/BGP.md.
 */
import { ConfigError } from '../errors.js';
import type { Config } from '../config/types.js';
import { createBgpFeed } from '../bgp/feed.js';

/** SentryPeer-style BLACKHOLE community of RFC 7999, always sent. */
export const BLACKHOLE = '65535:666';

/**
 * Takes `--api URL` / `--api=URL` out of a `bgp-feed` command line (for the node, `--api` is a switch), leaving the
 * rest for the ordinary settings parser.
 */
export function splitFeedArgs(argv: readonly string[]): { apiUrl: string | null; rest: string[] } {
  const rest: string[] = [];
  let apiUrl: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--api=')) apiUrl = a.slice('--api='.length);
    else if (a === '--api' && i + 1 < argv.length && /^https?:\/\//i.test(argv[i + 1]!)) apiUrl = argv[++i]!;
    else rest.push(a);
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
  return { apiUrl, rest };
}

/** The API URL of the node a configuration describes: its first API listener, wildcards read as loopback. */
export function apiUrlOf(config: Config): string {
  const e = config.apiListen[0];
  if (!e) throw new ConfigError('--api', 'no --api URL and no --api-listen in the configuration');
  const ip = e.ip === '0.0.0.0' ? '127.0.0.1' : e.ip === '::' ? '::1' : e.ip;
  return `http://${ip.includes(':') ? `[${ip}]` : ip}:${e.port}`;
}

/** Runs the feed until ExaBGP closes our stdin (or a signal); resolves the exit code. */
export async function runBgpFeed(config: Config, apiUrl: string | null): Promise<number> {
  const url = apiUrl ?? apiUrlOf(config);
  const log = (line: string): void => void process.stderr.write(line + '\n');
  const feed = await createBgpFeed({
    apiUrl: url,
    apiToken: config.apiTokens[0] ?? null,
    settings: {
      nextHop4: config.bgpNextHop4,
      nextHop6: config.bgpNextHop6,
      communities: [BLACKHOLE, ...config.bgpCommunity.filter((c) => c !== BLACKHOLE)],
      largeCommunities: config.bgpLargeCommunity,
      noExport: config.bgpNoExport,
      aggregateMin: config.bgpAggregateMin,
      maxRoutes: config.bgpMaxRoutes,
      allowPrefixes: config.bgpAllowPrefix,
    },
    input: process.stdin,
    output: process.stdout,
    log,
    metricsListen: config.bgpMetricsListen,
  });
  log(`sipwarden bgp-feed: following ${url}/api/v1/blocklist/stream`);
  const stop = async (): Promise<void> => {
    await feed.stop();
  };
  process.once('SIGTERM', () => void stop().then(() => process.exit(0)));
  process.once('SIGINT', () => void stop().then(() => process.exit(0)));
  await feed.done;
  await stop();
  return 0;
}
