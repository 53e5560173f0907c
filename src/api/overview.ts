/**
 * `GET /api/v1/overview`: what the dashboard's first screen shows, answered from the console aggregates kept by the
 * store writer (src/store/console.ts) plus the enforcement state held in memory: never a scan of `honey`, so it
 * costs the same at a thousand events as at millions.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/types.js';
import type { BlockSet } from '../enforce/blockset.js';
import type { ConsoleOverview } from '../store/console.js';
import { JSON_TYPE, sendText } from './http.js';
import { intParam } from './params.js';
import type { Reader } from './reader.js';

const errorSchema = { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] };
const bucket = { type: 'object', required: ['t', 'events'], properties: { t: { type: 'string', format: 'date-time', description: 'start of the bucket' }, events: { type: 'integer' } } };
const topItem = {
  type: 'object',
  required: ['key', 'label', 'events', 'last_seen', 'last_24h', 'prev_24h'],
  properties: {
    key: { type: 'string', description: 'the address, number, user agent, method, country code or AS number (as text)' },
    label: { type: ['string', 'null'], description: "the AS organisation (asns); null elsewhere" },
    events: { type: 'integer', description: 'all-time events' },
    last_seen: { type: 'string', format: 'date-time' },
    last_24h: { type: 'integer', description: 'events in the last 24 hours' },
    prev_24h: { type: 'integer', description: 'events in the 24 hours before (the trend compares the two)' },
  },
};
const topList = { type: 'array', items: topItem };

/** The route's 200 schema (also the OpenAPI document's). */
export const OVERVIEW_SCHEMA = {
  type: 'object',
  required: ['generated_at', 'total_events', 'minutes', 'hours', 'top', 'countries', 'enforcement'],
  properties: {
    generated_at: { type: 'string', format: 'date-time' },
    total_events: { type: 'integer', description: 'stored events, all time' },
    minutes: { type: 'array', items: bucket, description: 'events per minute, the last 60 minutes (oldest first, zero-filled)' },
    hours: { type: 'array', items: bucket, description: 'events per hour, the last 168 hours (oldest first, zero-filled)' },
    top: {
      type: 'object',
      required: ['sources', 'numbers', 'user_agents', 'methods', 'countries', 'asns'],
      properties: { sources: topList, numbers: topList, user_agents: topList, methods: topList, countries: topList, asns: topList },
    },
    countries: {
      type: 'array', description: 'events per source country (ISO 3166-1 alpha-2), all time, for the map',
      items: { type: 'object', required: ['country', 'events'], properties: { country: { type: 'string' }, events: { type: 'integer' } } },
    },
    enforcement: {
      type: 'object',
      required: ['firewall', 'block_set'],
      properties: {
        firewall: { type: 'string', description: 'firewall backend (off, nftables, ipset)' },
        block_set: {
          type: ['object', 'null'], description: 'addresses blocked now per family; null when no block set runs',
          properties: { ipv4: { type: 'integer' }, ipv6: { type: 'integer' }, seq: { type: 'integer' } },
        },
        policy: {
          type: 'object',
          properties: { ttl_seconds: { type: 'integer' }, min_hits: { type: 'integer' }, verified_only: { type: 'boolean' }, peers: { type: 'boolean' }, max: { type: 'integer' } },
        },
      },
    },
  },
} as const;

/** Registers the route on `app`. */
export function registerOverviewRoute(
  app: FastifyInstance,
  ctx: { reader: Reader; config: Config; blockSet?: BlockSet | null; now?: () => number },
): void {
  const { reader, config } = ctx;
  app.get('/api/v1/overview', {
    schema: {
      tags: ['v1'],
      summary: 'Dashboard overview: events per minute (1 h) and per hour (7 days), top lists with trends, events per country, enforcement',
      querystring: { type: 'object', additionalProperties: false, properties: { limit: intParam(1, 100, 'keys per top list', 10) } },
      response: { 200: OVERVIEW_SCHEMA, 400: errorSchema, 401: errorSchema, 429: errorSchema, 503: errorSchema },
    },
  }, async (req, reply) => {
    const limit = Number((req.query as { limit?: string }).limit ?? 10);
    const nowUs = ctx.now ? ctx.now() : Date.now() * 1000;
    const o = await reader.query<ConsoleOverview>('overview', { nowUs, limit });
    const bs = ctx.blockSet;
    const enforcement = {
      firewall: config.firewall,
      block_set: bs ? { ipv4: bs.size(4), ipv6: bs.size(6), seq: bs.seq } : null,
      policy: { ttl_seconds: config.blockTtl, min_hits: config.blockMinHits, verified_only: config.blockVerifiedOnly, peers: config.blockPeers, max: config.blockMax },
    };
    return sendText(reply, 200, JSON_TYPE, JSON.stringify({ ...o, enforcement }));
  });
}
