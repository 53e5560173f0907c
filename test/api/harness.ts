/**
 * Test helper: a Config for the API, and an API server over a seeded test database.
 */
import type { Config } from '../../src/config/types.js';
import { DEFAULTS } from '../../src/config/settings.js';
import { createApiServer, type ApiServer } from '../../src/api/server.js';
import type { CommitSource } from '../../src/api/live.js';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import type { PeerInfo } from '../../src/p2p/types.js';
import { createTestDb, type TestDb } from './seed.js';

/** A full Config with API settings for tests (port 0 on loopback, no rate limit unless given). */
export function apiConfig(over: Partial<Config> = {}): Config {
  return {
    ...DEFAULTS,
    dataDir: '/nonexistent',
    dbFile: '/nonexistent/sipwarden.db',
    jsonLogFile: '/nonexistent/sipwarden_json.log',
    sources: {},
    api: true,
    apiListen: [{ ip: '127.0.0.1', port: 0 }],
    apiRateLimit: 0,
    apiTokens: [],
    allow: [],
    ...over,
  } as Config;
}

export interface Harness {
  tdb: TestDb;
  api: ApiServer;
  metrics: Metrics;
  close(): Promise<void>;
}

/** A seeded database plus an API over it (built for inject(); call `api.start()` for real sockets). */
export async function harness(
  over: Partial<Config> = {},
  opts: { peers?: () => PeerInfo[]; now?: () => number; tdb?: TestDb; onCommit?: CommitSource } = {},
): Promise<Harness> {
  const tdb = opts.tdb ?? createTestDb();
  const metrics = new Metrics({ processMetrics: false });
  const api = createApiServer({
    config: apiConfig(over),
    dbPath: tdb.path,
    metrics,
    logger: createLogger('silent'),
    peers: opts.peers,
    now: opts.now,
    onCommit: opts.onCommit,
  });
  await api.ready();
  return {
    tdb,
    api,
    metrics,
    async close() {
      await api.stop();
      tdb.close();
    },
  };
}
