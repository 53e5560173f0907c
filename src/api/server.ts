/**
 * The REST API: fastify 5 on every `--api-listen` endpoint (IPv4 and IPv6, optional TLS), with the
 * SentryPeer-compatible routes, `/api/v1`, exports, OpenAPI, bearer auth, per-source rate limit and `/metrics`.
 * All database reads happen in a reader worker with its own read-only connections.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import type { Config } from '../config/types.js';
import { normalizeIp } from '../net/ip.js';
import { ERROR_CODES, SipwardenError } from '../errors.js';
import { announceListening, type Endpoint, type Startable } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { OpenDhtInfo, PeerInfo } from '../p2p/types.js';
import { APP_NAME, VERSION } from '../version.js';
import { registerCompatRoutes } from './compat.js';
import {
  ALLOW, BAD_PATH, JSON_TYPE, LIT, errorBody, leadHeaders, orderHeaders, rewriteUrl, sendText, tokenMatches,
} from './http.js';
import { checkRequestIntegers } from './params.js';
import { ApiError } from './protocol.js';
import { RateLimiter } from './rate-limit.js';
import { createReader, type Reader } from './reader.js';
import { registerV1Routes } from './v1.js';
import { registerBlockStreamRoute } from './blockstream.js';
import type { BlockSet } from '../enforce/blockset.js';
import type { ExclusionFeed } from '../enforce/exclusion-feed.js';
import { blockPolicyFromConfig } from '../enforce/policy.js';
import { registerLiveRoute, type CommitSource } from './live.js';
import { registerOverviewRoute } from './overview.js';
import { registerUiRoutes, UI_ROUTES } from './ui.js';

/** Longest accepted request target (path + query), bytes. Longer → 414. */
export const MAX_URL_LENGTH = 4096;

/** What {@link createApiServer} needs. */
export interface ApiServerInit {
  config: Config;
  /** sqlite file written by the store (opened read-only here). */
  dbPath: string;
  metrics: Metrics;
  logger: Logger;
  /** Current P2P peers for `/api/v1/peers`. */
  peers?: () => PeerInfo[];
  /** The changing never-exported lists (bootstrap nodes, connected peers, webhook hosts). */
  exclusionFeed?: ExclusionFeed;
  /** The block set: serves its change stream at `/api/v1/blocklist/stream`. */
  blockSet?: BlockSet | null;
  /** Committed batches (`EventStore.onCommit`): serves `/api/v1/events/stream` when given. */
  onCommit?: CommitSource;
  /** The OpenDHT side for `/api/v1/peers`, when that engine runs. */
  opendht?: () => OpenDhtInfo;
  /** Serve HTTPS with this PEM certificate and key instead of HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Clock for tests (µs since the epoch). */
  now?: () => number;
}

/** The API as a Startable, plus what tests need. */
export interface ApiServer extends Startable {
  /** Bound endpoints (after `start()`). */
  addresses(): Endpoint[];
  /** The fastify instance (for `inject()` in tests; ready after `start()` or `ready()`). */
  readonly app: FastifyInstance;
  /** Builds the app without listening (for `inject()`). */
  ready(): Promise<void>;
}

/** Route URL patterns (as registered) that skip the bearer check: their own auth or none. */
const PUBLIC_ROUTES = new Set(['/health-check', '/api/:key/banned', '/api/:key/banned/:id', ...UI_ROUTES]);

/** Builds the API. Nothing binds until `start()`. */
export function createApiServer(init: ApiServerInit): ApiServer {
  const { config, metrics } = init;
  const log = init.logger.child({ component: 'api' });
  const reader: Reader = createReader({
    dbPath: init.dbPath,
    allow: config.allow,
    policy: blockPolicyFromConfig(config),
    trustOpendht: config.trustOpendht,
    onError: (err) => log.error({ err }, 'reader worker failed'),
  });
  const unsubscribeExclusions = init.exclusionFeed?.subscribe((lists) => reader.setExcluded(lists)) ?? (() => undefined);
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
  const servers: Server[] = [];
  const bound: Endpoint[] = [];
  /** Route patterns (GET) as regexes over the rewritten path, for 405 and OPTIONS. */
  const routeRes: RegExp[] = [];

  const app = Fastify({
    logger: false,
    exposeHeadRoutes: true,
    routerOptions: { maxParamLength: 2048 },
    bodyLimit: 1024,
    requestTimeout: 120_000,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
    rewriteUrl: (req) => rewriteUrl(req.url ?? '/'),
    serverFactory: (h) => {
      handler = h;
      return init.tls ? createHttpsServer({ cert: init.tls.cert, key: init.tls.key }, h) : createHttpServer(h);
    },
  });

  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    if (!methods.includes('GET')) return;
    const re = '^' + r.url.split('/').map((seg) => (seg.startsWith(':') ? '[^/]*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/') + '$';
    routeRes.push(new RegExp(re));
  });

  const known = (path: string): boolean => routeRes.some((re) => re.test(path));

  let built: Promise<void> | null = null;
  async function build(): Promise<void> {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: `${APP_NAME} API`,
          version: VERSION,
          description: 'SentryPeer-compatible routes, the paged /api/v1 query API, blocklist exports and the APIBAN-compatible feed.',
        },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: [{ bearer: [] }],
      },
    });

    app.addHook('onRequest', (_req, reply, done) => {
      leadHeaders(reply);
      done();
    });

    // Rate limit before everything else (URL checks, authentication, routing, unknown paths): N req/s per source
    // averaged over 5 s. /health-check is exempt: it is a constant answer without auth or database work, and a
    // load balancer or orchestrator probing it (possibly through the same proxy address as the clients) must
    // never see a 429 and take a healthy node out of service.
    if (config.apiRateLimit > 0) {
      const limiter = new RateLimiter({ max: Math.max(1, Math.round(config.apiRateLimit * 5)), windowMs: 5000 });
      app.addHook('onRequest', (req, reply, done) => {
        if (req.routeOptions.url === '/health-check' && (req.method === 'GET' || req.method === 'HEAD')) {
          done();
          return;
        }
        const retryAfter = limiter.hit(normalizeIp(req.ip) ?? req.ip);
        if (retryAfter === 0) {
          done();
          return;
        }
        reply.header('retry-after', String(retryAfter));
        sendText(reply, 429, JSON_TYPE, LIT.tooMany);
      });
    }

    app.addHook('onRequest', (req, reply, done) => {
      if ((req.raw.url ?? '').length > MAX_URL_LENGTH) {
        sendText(reply, 414, JSON_TYPE, errorBody('URI too long'));
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'OPTIONS') {
        // Before auth and before any body parsing (QUERY, POST…): the method is wrong whoever asks.
        const path = req.url.split('?')[0] ?? '/';
        if (known(path)) {
          reply.header('allow', ALLOW);
          sendText(reply, 405, JSON_TYPE, LIT.methodNotAllowed);
          return;
        }
        sendText(reply, 404, JSON_TYPE, LIT.notFound);
        return;
      }
      if (req.method === 'OPTIONS' || config.apiTokens.length === 0 || PUBLIC_ROUTES.has(req.routeOptions.url ?? '')) {
        done();
        return;
      }
      const auth = req.headers.authorization;
      const m = typeof auth === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth) : null;
      if (!m || !tokenMatches(m[1]!, config.apiTokens)) {
        reply.header('www-authenticate', 'Bearer');
        sendText(reply, 401, JSON_TYPE, LIT.unauthorized);
        return;
      }
      done();
    });

    // Integer parameters are checked on their raw text before the schema validator coerces them (params.ts).
    app.addHook('preValidation', (req, reply, done) => {
      const msg = checkRequestIntegers(req);
      if (msg === null) {
        done();
        return;
      }
      sendText(reply, 400, JSON_TYPE, errorBody(msg));
    });

    app.addHook('onSend', (_req, reply, payload, done) => {
      orderHeaders(reply);
      done(null, payload);
    });

    app.addHook('onResponse', (req, reply, done) => {
      metrics.apiRequests.inc({ route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) });
      done();
    });

    app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
      if (err instanceof ApiError) {
        if (err.status === 429) return sendText(reply, 429, JSON_TYPE, LIT.tooMany);
        if (err.status >= 500) log.warn({ status: err.status, msg: err.message }, 'API read failed');
        return sendText(reply, err.status, JSON_TYPE, errorBody(err.status >= 500 && err.status !== 503 ? 'Internal error' : err.message));
      }
      const fe = err as FastifyError;
      if (fe.validation) {
        const v = fe.validation[0];
        const where = v?.instancePath ? v.instancePath.replace(/^\//, '') : (v?.params as { additionalProperty?: string } | undefined)?.additionalProperty;
        const msg = v?.keyword === 'additionalProperties'
          ? `unknown parameter: ${String(where)}`
          : `invalid ${where || fe.validationContext || 'request'}: ${v?.message ?? 'bad value'}`;
        return sendText(reply, 400, JSON_TYPE, errorBody(msg));
      }
      const status = typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500 ? fe.statusCode : 500;
      if (status === 429) return sendText(reply, 429, JSON_TYPE, LIT.tooMany);
      if (status === 500) {
        log.error({ err, url: req.url }, 'API internal error');
        metrics.internalErrors.inc({ component: 'api' });
        return sendText(reply, 500, JSON_TYPE, errorBody('Internal error'));
      }
      return sendText(reply, status, JSON_TYPE, errorBody(fe.message));
    });

    app.setNotFoundHandler(async (req: FastifyRequest, reply: FastifyReply) => {
      const path = (req.url.split('?')[0] ?? '/');
      if (path === BAD_PATH) return sendText(reply, 400, JSON_TYPE, LIT.invalid);
      if (known(path)) {
        if (req.method === 'OPTIONS') {
          return reply.code(204)
            .header('allow', ALLOW)
            .header('access-control-allow-methods', ALLOW)
            .header('access-control-allow-headers', 'Authorization, Content-Type')
            .header('access-control-max-age', '86400')
            .send();
        }
        reply.header('allow', ALLOW);
        return sendText(reply, 405, JSON_TYPE, LIT.methodNotAllowed);
      }
      return sendText(reply, 404, JSON_TYPE, LIT.notFound);
    });

    registerCompatRoutes(app, reader);
    registerV1Routes(app, { reader, config, peers: init.peers, opendht: init.opendht, now: init.now });
    if (init.blockSet) registerBlockStreamRoute(app, init.blockSet);
    if (init.onCommit) registerLiveRoute(app, init.onCommit);
    registerOverviewRoute(app, { reader, config, blockSet: init.blockSet, now: init.now });
    registerUiRoutes(app);

    app.get('/metrics', {
      schema: { tags: ['operations'], summary: 'Prometheus metrics', response: { 200: { type: 'string' } } },
    }, async (_req, reply) => sendText(reply, 200, metrics.registry.contentType, await metrics.registry.metrics()));

    app.get('/api/v1/openapi.json', {
      schema: { tags: ['operations'], summary: 'This OpenAPI 3.1 document', response: { 200: { type: 'object', additionalProperties: true } } },
    }, async (_req, reply) => sendText(reply, 200, JSON_TYPE, JSON.stringify(app.swagger())));

    await app.ready();
  }

  function ready(): Promise<void> {
    built ??= build();
    return built;
  }

  async function listenOne(e: Endpoint, first: boolean): Promise<void> {
    const h = handler!;
    const server: Server = first
      ? app.server
      : init.tls ? createHttpsServer({ cert: init.tls.cert, key: init.tls.key }, h) : createHttpServer(h);
    server.keepAliveTimeout = 5000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 120_000;
    server.setTimeout(60_000); // idle sockets (a stalled export) are closed, releasing their snapshot
    if (!first) server.on('clientError', (_err, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen({ host: e.ip, port: e.port, ipv6Only: e.ip.includes(':') }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    servers.push(server);
    const a = server.address() as AddressInfo;
    const ep = { ip: normalizeIp(a.address) ?? a.address, port: a.port };
    bound.push(ep);
    announceListening('http', ep);
  }

  let started = false;
  let stopped = false;
  return {
    app,
    ready,
    addresses: () => bound.slice(),
    async start() {
      if (started) return;
      started = true;
      await ready();
      try {
        let first = true;
        for (const e of config.apiListen) {
          await listenOne(e, first);
          first = false;
        }
      } catch (err) {
        await this.stop();
        const e = err as NodeJS.ErrnoException;
        throw new SipwardenError(ERROR_CODES.LISTEN_FAILED, `--api-listen: cannot bind: ${e.message}`, 1, { cause: err });
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      })));
      servers.length = 0;
      unsubscribeExclusions();
      await reader.close();
      if (built) await app.close().catch(() => undefined);
    },
  };
}
