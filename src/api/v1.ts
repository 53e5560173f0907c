/**
 * `/api/v1` (issue 5 items 2–3): paged JSON lists with opaque keyset cursors, stats, peers, the
 * blocklist exports and the APIBAN-compatible feed. Every route declares request and response schemas; the
 * OpenAPI document is generated from them.
 */
import { isIP } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/types.js';
import { formatCidr, normalizeIp, parseCidr } from '../net/ip.js';
import type { OpenDhtInfo, PeerInfo } from '../p2p/types.js';
import { BLOCKLIST_CONTENT_TYPES, BLOCKLIST_FORMATS, parseRfc3339, type BlocklistFormat } from './format.js';
import { JSON_TYPE, sendText, streamOp, tokenMatches } from './http.js';
import { intParam } from './params.js';
import { ApiError } from './protocol.js';
import type { Page, SourceFilter } from '../store/queries.js';
import type { Reader } from './reader.js';

type Q = Record<string, string | undefined>;

/** Longest accepted value of any free-text query parameter. */
const MAX_TEXT = 256;
/** Default and maximum blocklist TTL in seconds (APIBAN keeps an address active 7 days). */
export const DEFAULT_TTL = 604_800;
const MAX_TTL = 31_536_000;

const str = (description: string, extra: Record<string, unknown> = {}) => ({ type: 'string', description, maxLength: MAX_TEXT, ...extra });
const time = (description: string) => str(description, { format: 'date-time' });
const boolStr = (description: string) => ({ type: 'string', enum: ['true', 'false'], description });
const limit = intParam(1, 1000, 'page size (≤ 1000)', 100);
/** GeoIP filters (the writer's lookup of each source address). */
const geoFilters = () => ({
  country: str('source country, ISO 3166-1 alpha-2 (any case)', { pattern: '^[A-Za-z]{2}$' }),
  asn: intParam(1, 4_294_967_295, 'source autonomous system number'),
});
const geoQuery = (q: Record<string, string | undefined>): { country?: string; asn?: number } => ({
  country: q.country === undefined ? undefined : q.country.toUpperCase(),
  asn: q.asn === undefined ? undefined : Number(q.asn),
});
/** Largest accepted event-count threshold (`min_count`, `min_hits`). */
const MAX_COUNT = 1_000_000_000_000;
const cursor = str('opaque next_cursor from the previous page', { maxLength: 128 });
const nullableStr = { type: ['string', 'null'] };
const nullableInt = { type: ['integer', 'null'] };
const errorSchema = { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] };
const errors = { 400: errorSchema, 401: errorSchema, 429: errorSchema, 503: errorSchema };

/**
 * An object schema whose declared properties are all `required` except `optional` (those the route sends only
 * on request, e.g. `sip_message`): the generated client types then say which fields are always there.
 */
function always(properties: Record<string, unknown>, optional: readonly string[] = [], extra: Record<string, unknown> = {}) {
  return { type: 'object', ...extra, properties, required: Object.keys(properties).filter((k) => !optional.includes(k)) };
}

function query(properties: Record<string, unknown>) {
  return { type: 'object', additionalProperties: false, properties };
}

function page(listKey: string, item: Record<string, unknown>) {
  return {
    200: {
      type: 'object',
      properties: { [listKey]: { type: 'array', items: item }, next_cursor: { type: ['string', 'null'] } },
      required: [listKey, 'next_cursor'],
    },
    ...errors,
  };
}

const eventItem = always({
  id: { type: 'integer' }, event_uuid: { type: 'string' }, event_time: { type: ['string', 'null'], format: 'date-time' },
  event_timestamp: nullableStr, source_ip: { type: 'string' }, source_port: nullableInt, destination_ip: nullableStr,
  destination_port: nullableInt, transport: nullableStr, method: nullableStr, request_uri_user: nullableStr, to_user: nullableStr,
  called_number: nullableStr, called_number_e164: nullableStr, user_agent: nullableStr, collected_method: nullableStr,
  created_by_node_id: nullableStr, origin: nullableStr, origin_peer_id: nullableStr, response_code: nullableInt,
  source_verified: { type: 'boolean' }, source_country: nullableStr, source_city: nullableStr, source_asn: nullableInt,
  source_org: nullableStr, sip_message: nullableStr,
}, ['sip_message']);
const ipItem = always({
  ip: { type: 'string' }, first_seen: { type: 'string', format: 'date-time' }, last_seen: { type: 'string', format: 'date-time' },
  count: { type: 'integer' }, verified: { type: 'boolean' }, country: nullableStr, city: nullableStr, asn: nullableInt, org: nullableStr,
  methods: { type: 'array', items: { type: 'string' } },
  transports: { type: 'array', items: { type: 'string' } }, distinct_numbers: { type: 'integer' },
  user_agents: { type: 'array', items: { type: 'string' } },
  details_sampled: { type: 'boolean', description: 'details come from the newest 1,000 events only' },
}, ['methods', 'transports', 'distinct_numbers', 'user_agents', 'details_sampled']);
const numberItem = always({
  called_number: { type: 'string' }, called_number_e164: nullableStr, country: nullableStr, number_type: nullableStr,
  first_seen: { type: 'string', format: 'date-time' }, last_seen: { type: 'string', format: 'date-time' }, count: { type: 'integer' },
  distinct_sources: { type: 'integer' }, details_sampled: { type: 'boolean' },
}, ['distinct_sources', 'details_sampled']);
const credentialItem = always({
  id: { type: 'integer' }, event_uuid: { type: 'string' }, event_time: { type: 'string', format: 'date-time' },
  source_ip: { type: 'string' }, source_port: nullableInt, transport: nullableStr, method: nullableStr, header: nullableStr,
  scheme: nullableStr, username: nullableStr, realm: nullableStr, uri: nullableStr, nonce: nullableStr, response: nullableStr,
  algorithm: nullableStr, qop: nullableStr, user_agent: nullableStr, password: nullableStr, password_source: nullableStr,
  password_verified: { type: ['boolean', 'null'] },
});
const uaItem = always({ user_agent: { type: 'string' }, first_seen: { type: 'string' }, last_seen: { type: 'string' }, count: { type: 'integer' } });

/** `source=` value: an IP, or a CIDR (v4 or v6). */
export function parseSource(text: string | undefined): SourceFilter | undefined {
  if (text === undefined) return undefined;
  if (text.includes('/')) {
    const c = parseCidr(text);
    if (!c) throw new ApiError(400, 'invalid source: expected an IP address or CIDR');
    if (c.prefix === (c.family === 4 ? 32 : 128)) return { ip: formatCidr(c).replace(/\/\d+$/, '') };
    return { cidr: formatCidr(c) };
  }
  const ip = normalizeIp(text);
  if (ip === null) throw new ApiError(400, 'invalid source: expected an IP address or CIDR');
  return { ip };
}

function time_(q: Q, name: string): number | undefined {
  const v = q[name];
  return v === undefined ? undefined : parseRfc3339(v, name);
}

function bool(q: Q, name: string): boolean | undefined {
  const v = q[name];
  return v === undefined ? undefined : v === 'true';
}

function numberPrefix(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (!/^\+?[0-9]{1,32}$/.test(v)) throw new ApiError(400, 'invalid number: expected digits with an optional leading +');
  return v;
}

const TRANSPORTS = new Set(['UDP', 'TCP', 'TLS']);
function transports(v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const xs = v.split(',').map((x) => x.trim().toUpperCase());
  if (xs.some((x) => !TRANSPORTS.has(x))) throw new ApiError(400, 'invalid transport: expected UDP, TCP or TLS (comma-separated)');
  return xs;
}

function methods(v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const xs = v.split(',').map((x) => x.trim());
  if (xs.length > 32 || xs.some((x) => !/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/.test(x))) throw new ApiError(400, 'invalid method');
  return xs;
}

function ident(v: string | undefined, name: string, dflt: string): string {
  if (v === undefined) return dflt;
  if (!/^[A-Za-z][A-Za-z0-9_]{0,30}$/.test(v)) throw new ApiError(400, `invalid ${name}: expected a letter then letters, digits or _ (≤ 31)`);
  return v;
}

function rename<T>(p: Page<T>, key: string): string {
  return JSON.stringify({ [key]: p.items, next_cursor: p.next_cursor });
}

/** Only the query parameters as strings (the schemas let nothing else through). */
function qs(req: FastifyRequest): Q {
  return req.query as Q;
}

const tags = ['v1'];

/** Registers `/api/v1/*` and the APIBAN feed. */
export function registerV1Routes(
  app: FastifyInstance,
  ctx: { reader: Reader; config: Config; peers?: () => PeerInfo[]; opendht?: () => OpenDhtInfo; now?: () => number },
): void {
  const { reader, config } = ctx;
  const nowUs = (): number => (ctx.now ? ctx.now() : Date.now() * 1000);
  const json = (reply: FastifyReply, body: string): FastifyReply => sendText(reply, 200, JSON_TYPE, body);

  app.get('/api/v1/events', {
    schema: {
      tags, summary: 'Events, newest first (or oldest first with order=asc), keyset-paged',
      querystring: query({
        since: time('events at or after this time'), until: time('events before this time'),
        source: str('source IP or CIDR (IPv4 or IPv6)'), number: str('called-number prefix, raw or E.164 (+digits)'),
        method: str('SIP method(s), comma-separated'), transport: str('UDP, TCP, TLS (comma-separated)'),
        user_agent: str('user-agent substring (case-sensitive)'), origin: { type: 'string', enum: ['local', 'peer', 'opendht', 'legacy'] },
        verified: boolStr('only proven sources (TCP/TLS or echoed nonce/tag)'), order: { type: 'string', enum: ['desc', 'asc'] },
        message: boolStr('include sip_message'), ...geoFilters(), limit, cursor,
      }),
      response: page('events', eventItem),
    },
  }, async (req, reply) => {
    const q = qs(req);
    const p = await reader.query<Page<unknown>>('events', {
      sinceUs: time_(q, 'since'), untilUs: time_(q, 'until'), source: parseSource(q.source), number: numberPrefix(q.number),
      methods: methods(q.method), transports: transports(q.transport), userAgent: q.user_agent, origin: q.origin,
      verified: bool(q, 'verified'), order: q.order === 'asc' ? 'asc' : 'desc', limit: Number(q.limit ?? 100), cursor: q.cursor,
      includeMessage: bool(q, 'message') === true, ...geoQuery(q),
    });
    return json(reply, rename(p, 'events'));
  });

  app.get('/api/v1/ip-addresses', {
    schema: {
      tags, summary: 'Source addresses with first/last seen, counts and details, most recently seen first',
      querystring: query({
        since: time('last seen at or after'), until: time('last seen before'), source: str('IP or CIDR'),
        verified: boolStr('only proven sources'), min_count: intParam(1, MAX_COUNT, 'at least this many events'),
        details: boolStr('methods, transports, numbers, user agents (default true)'), ...geoFilters(), limit, cursor,
      }),
      response: page('ip_addresses', ipItem),
    },
  }, async (req, reply) => {
    const q = qs(req);
    const p = await reader.query<Page<unknown>>('ipAddresses', {
      sinceUs: time_(q, 'since'), untilUs: time_(q, 'until'), source: parseSource(q.source), verified: bool(q, 'verified'),
      minCount: q.min_count === undefined ? undefined : Number(q.min_count), details: bool(q, 'details') !== false,
      limit: Number(q.limit ?? 100), cursor: q.cursor, ...geoQuery(q),
    });
    return json(reply, rename(p, 'ip_addresses'));
  });

  app.get('/api/v1/numbers', {
    schema: {
      tags, summary: 'Called numbers (raw and E.164, country, type), most recently called first',
      querystring: query({
        since: time('last called at or after'), until: time('last called before'), number: str('prefix, raw or E.164'),
        country: str('ISO 3166-1 alpha-2', { pattern: '^[A-Z]{2}$' }), type: str('number type (fixed, mobile, premium_rate…)', { pattern: '^[a-z_]{1,32}$' }),
        min_count: intParam(1, MAX_COUNT, 'at least this many events'), details: boolStr('distinct_sources (default true)'), limit, cursor,
      }),
      response: page('numbers', numberItem),
    },
  }, async (req, reply) => {
    const q = qs(req);
    const p = await reader.query<Page<unknown>>('numbers', {
      sinceUs: time_(q, 'since'), untilUs: time_(q, 'until'), number: numberPrefix(q.number), country: q.country, type: q.type,
      minCount: q.min_count === undefined ? undefined : Number(q.min_count), details: bool(q, 'details') !== false,
      limit: Number(q.limit ?? 100), cursor: q.cursor,
    });
    return json(reply, rename(p, 'numbers'));
  });

  app.get('/api/v1/credentials', {
    schema: {
      tags, summary: 'Captured digest credentials (and recovered passwords), newest first',
      querystring: query({ since: time('at or after'), until: time('before'), source: str('IP or CIDR'), username: str('exact username'), limit, cursor }),
      response: page('credentials', credentialItem),
    },
  }, async (req, reply) => {
    const q = qs(req);
    const p = await reader.query<Page<unknown>>('credentials', {
      sinceUs: time_(q, 'since'), untilUs: time_(q, 'until'), source: parseSource(q.source), username: q.username,
      limit: Number(q.limit ?? 100), cursor: q.cursor,
    });
    return json(reply, rename(p, 'credentials'));
  });

  app.get('/api/v1/user-agents', {
    schema: {
      tags, summary: 'User agents, most recently seen first',
      querystring: query({ q: str('substring'), since: time('last seen at or after'), limit, cursor }),
      response: page('user_agents', uaItem),
    },
  }, async (req, reply) => {
    const q = qs(req);
    const p = await reader.query<Page<unknown>>('userAgents', { q: q.q, sinceUs: time_(q, 'since'), limit: Number(q.limit ?? 100), cursor: q.cursor });
    return json(reply, rename(p, 'user_agents'));
  });

  app.get('/api/v1/sip-methods', {
    schema: {
      tags, summary: 'SIP methods with counts',
      querystring: query({}),
      response: { 200: always({ sip_methods: { type: 'array', items: always({ method: { type: 'string' }, first_seen: { type: 'string' }, last_seen: { type: 'string' }, count: { type: 'integer' } }) } }), ...errors },
    },
  }, async (_req, reply) => json(reply, JSON.stringify({ sip_methods: await reader.query<unknown[]>('methods') })));

  app.get('/api/v1/stats', {
    schema: {
      tags, summary: 'Totals and an hourly event series',
      querystring: query({ hours: intParam(1, 720, 'series length in hours', 24) }),
      response: {
        200: always({
          totals: always(Object.fromEntries(['events', 'events_stored', 'ip_addresses', 'verified_ip_addresses', 'numbers', 'user_agents', 'credentials'].map((k) => [k, { type: 'integer' }]))),
          methods: { type: 'array', items: always({ method: { type: 'string' }, count: { type: 'integer' } }) },
          hours: { type: 'integer' },
          series: { type: 'array', items: always({ hour: { type: 'string', format: 'date-time' }, events: { type: 'integer' }, udp: { type: 'integer' }, tcp: { type: 'integer' }, tls: { type: 'integer' } }) },
          generated_at: { type: 'string', format: 'date-time' },
        }),
        ...errors,
      },
    },
  }, async (req, reply) => {
    const hours = Number(qs(req).hours ?? 24);
    return json(reply, JSON.stringify(await reader.query('stats', { hours, nowUs: nowUs() })));
  });

  app.get('/api/v1/peers', {
    schema: {
      tags, summary: 'P2P peers (empty without -p)',
      querystring: query({}),
      response: {
        200: always({
          peers: {
            type: 'array',
            items: always({ id: { type: 'string' }, addresses: { type: 'array', items: { type: 'string' } }, connected_since: { type: ['string', 'null'] }, records_received: { type: 'integer' }, records_rejected: { type: 'integer' }, score: { type: 'number' } }),
          },
          opendht: always({
            node_id: { type: ['string', 'null'] }, port: { type: ['integer', 'null'] },
            bootstrap: { type: 'array', items: { type: 'string' } },
            bootstrap_state: { type: 'string', enum: ['starting', 'connected', 'unreachable', 'none'] },
            values_received: { type: 'integer' }, values_accepted: { type: 'integer' },
            values_rejected: { type: 'integer' }, values_published: { type: 'integer' },
          }, [], { type: ['object', 'null'], description: 'the OpenDHT node (SentryPeer network); null unless --p2p-engine is opendht or both' }),
        }),
        ...errors,
      },
    },
  }, async (_req, reply) => {
    const peers = (ctx.peers?.() ?? []).map((p) => ({
      id: p.id, addresses: p.addresses, connected_since: p.connectedSince, records_received: p.recordsReceived,
      records_rejected: p.recordsRejected, score: p.score,
    }));
    const d = ctx.opendht?.();
    const opendht = d
      ? {
          node_id: d.nodeId, port: d.port, bootstrap: d.bootstrap, bootstrap_state: d.bootstrapState,
          values_received: d.valuesReceived, values_accepted: d.valuesAccepted, values_rejected: d.valuesRejected,
          values_published: d.valuesPublished,
        }
      : null;
    return json(reply, JSON.stringify({ peers, opendht }));
  });

  app.get('/api/v1/blocklist', {
    schema: {
      tags, summary: 'Blocklist export (plain, ipset, nftables, csv, jsonl, json), streamed; TTL per entry from last seen',
      querystring: query({
        format: { type: 'string', enum: [...BLOCKLIST_FORMATS], default: 'plain' },
        since: time('last seen at or after'), min_hits: intParam(1, MAX_COUNT, 'at least this many events'),
        transports: str('only sources seen on these transports (UDP,TCP,TLS)'), verified: boolStr('only proven sources'),
        family: { type: 'string', enum: ['4', '6'] }, ...geoFilters(),
        ttl: intParam(1, MAX_TTL, 'seconds an address stays blocked after its last sighting', DEFAULT_TTL),
        table: str('nftables table (default sipwarden)'), set4: str('IPv4 set name (default blocklist4; ipset: sipwarden4)'),
        set6: str('IPv6 set name (default blocklist6; ipset: sipwarden6)'), rules: boolStr('nftables: also (re)create the input chain (default true)'),
        maxelem: intParam(1024, 16_777_216, 'ipset maxelem (default 1048576)'),
      }),
      response: { 200: { type: 'string', description: 'body in the requested format' }, ...errors },
    },
  }, async (req, reply) => {
    const q = qs(req);
    const format = (q.format ?? 'plain') as BlocklistFormat;
    const ipsetNames = format === 'ipset';
    const params = {
      query: {
        format,
        sinceUs: time_(q, 'since'),
        minHits: q.min_hits === undefined ? undefined : Number(q.min_hits),
        transports: transports(q.transports),
        verified: bool(q, 'verified') === true,
        family: q.family === '4' ? 4 : q.family === '6' ? 6 : undefined,
        ...geoQuery(q),
        ttl: q.ttl === undefined ? DEFAULT_TTL : Number(q.ttl),
        names: {
          table: ident(q.table, 'table', 'sipwarden'),
          set4: ident(q.set4, 'set4', ipsetNames ? 'sipwarden4' : 'blocklist4'),
          set6: ident(q.set6, 'set6', ipsetNames ? 'sipwarden6' : 'blocklist6'),
          rules: bool(q, 'rules') !== false,
          maxelem: q.maxelem === undefined ? 1_048_576 : Number(q.maxelem),
        },
      },
      nowUs: nowUs(),
    };
    return streamOp(reader, req, reply, 'blocklist', params, BLOCKLIST_CONTENT_TYPES[format]);
  });

  const checkTime = { type: ['string', 'null'], format: 'date-time' };
  app.get('/api/v1/check', {
    schema: {
      tags,
      summary: 'Call-check: should a call from this source address, or to this number, be refused? Answered from the aggregates under the block policy',
      description: 'At least one of ip and number. verdict is "block" when the address qualifies under the block policy '
        + '(hits, proven sources, TTL; never for a never-blocked address) or when enough distinct attackers called the number '
        + '(--check-number-min-sources) within the TTL. reasons holds ip:<why> and number:<why> codes: qualifies, unknown, '
        + 'no-hits, unverified, below-min-hits (ip), below-min-sources (number), expired, excluded:<reason> (ip).',
      querystring: query({
        ip: str('source address to check (IPv4 or IPv6)', { maxLength: 64 }),
        number: str('called number: digits with an optional leading +', { maxLength: 33 }),
      }),
      response: {
        200: {
          type: 'object',
          required: ['verdict', 'reasons'],
          properties: {
            verdict: { type: 'string', enum: ['block', 'allow'] },
            reasons: { type: 'array', items: { type: 'string' } },
            ip: always({
              address: { type: 'string' }, first_seen: checkTime, last_seen: checkTime, hits: { type: 'integer' },
              verified_hits: { type: 'integer' }, verified: { type: 'boolean' }, seen_by_peers: { type: 'boolean' },
              excluded: { type: ['string', 'null'], description: 'why this address is never blocked' }, blocked_until: checkTime,
            }),
            number: always({
              number: { type: 'string' }, e164: { type: ['string', 'null'] }, hits: { type: 'integer' },
              distinct_sources: { type: 'integer' }, verified_sources: { type: 'integer' }, first_seen: checkTime, last_seen: checkTime,
              blocked_until: checkTime,
            }),
          },
        },
        ...errors,
      },
    },
  }, async (req, reply) => {
    const q = qs(req);
    if (q.ip === undefined && q.number === undefined) throw new ApiError(400, 'give ip, number or both');
    let ip: string | undefined;
    if (q.ip !== undefined) {
      const n = isIP(q.ip) === 0 ? null : normalizeIp(q.ip);
      if (n === null || q.ip.includes('%')) throw new ApiError(400, 'invalid ip: expected an IPv4 or IPv6 address');
      ip = n;
    }
    if (q.number !== undefined && !/^\+?[0-9]{1,32}$/.test(q.number)) throw new ApiError(400, 'invalid number: expected 1 to 32 digits with an optional leading +');
    // The worker answers with the JSON text itself.
    return json(reply, await reader.query<string>('check', { query: { ip, number: q.number }, nowUs: nowUs() }));
  });

  // APIBAN-compatible feed (https://apiban.org/doc.html): the token is the {key} path segment.
  const apibanSchema = {
    tags: ['APIBAN compatible'],
    summary: 'APIBAN-compatible banned list: batches of 250, ID = position; end = 400 {"ipaddress":["no new bans"], "ID":"none"}',
    security: [],
    querystring: { type: 'object', properties: { verified: boolStr('only proven sources') } },
    response: {
      200: always({ ipaddress: { type: 'array', items: { type: 'string' } }, ID: { type: 'string' } }),
      400: always({ ipaddress: { type: 'array', items: { type: 'string' } }, ID: { type: 'string' } }),
      403: always({ ipaddress: { type: 'string' }, ID: { type: 'string' } }),
    },
  };
  const apiban = async (req: FastifyRequest<{ Params: { key: string; id?: string } }>, reply: FastifyReply) => {
    if (config.apiTokens.length > 0 && !tokenMatches(req.params.key, config.apiTokens)) {
      return sendText(reply, 403, JSON_TYPE, '{"ipaddress":"none", "ID":"unauthorized"}');
    }
    // An ID we did not issue (APIBAN clients start from "100") means: from the start of the window.
    const id = req.params.id;
    const after = id !== undefined && /^\d{17,33}$/.test(id) ? id : null;
    const verified = (req.query as Q).verified === 'true';
    const r = await reader.query<{ ips: string[]; id: string | null }>('apiban', {
      after, windowStartUs: nowUs() - DEFAULT_TTL * 1_000_000, verified,
    });
    if (r.id === null) return sendText(reply, 400, JSON_TYPE, '{"ipaddress":["no new bans"], "ID":"none"}');
    return json(reply, JSON.stringify({ ipaddress: r.ips, ID: r.id }));
  };
  app.get('/api/:key/banned', { schema: { ...apibanSchema, params: { type: 'object', properties: { key: { type: 'string' } } } } }, apiban);
  app.get('/api/:key/banned/:id', { schema: { ...apibanSchema, params: { type: 'object', properties: { key: { type: 'string' }, id: { type: 'string' } } } } }, apiban);
}
