/**
 * SentryPeer's routes, byte for byte, served from the aggregate tables by the reader worker.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { normalizeIp } from '../net/ip.js';
import { toE164 } from '../net/numbers.js';
import { APP_NAME, VERSION } from '../version.js';
import {
  HTML_TYPE, JSON_TYPE, LIT, TEXT_TYPE, messageBody, pretty, sendStream, sendText, wantsJson,
} from './http.js';
import type { Reader } from './reader.js';

const errorSchema = { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] } as const;
const messageSchema = { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] } as const;

function listSchema(totalKey: string, listKey: string, itemKey: string) {
  return {
    type: 'object',
    properties: {
      [totalKey]: { type: 'integer' },
      [listKey]: {
        type: 'array',
        items: {
          type: 'object',
          properties: { [itemKey]: { type: 'string' }, seen_last: { type: ['string', 'null'] }, seen_count: { type: 'string', description: 'count as a string (SentryPeer)' } },
        },
      },
    },
  };
}

function foundSchema(key: string) {
  return { type: 'object', properties: { [key]: { type: 'string' } }, required: [key] };
}

const tags = ['SentryPeer compatible'];

/** Registers the SentryPeer-compatible routes. */
export function registerCompatRoutes(app: FastifyInstance, reader: Reader): void {
  app.get('/', { schema: { tags, summary: 'Liveness (SentryPeer)', response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } },
    async (_req, reply) => sendText(reply, 200, JSON_TYPE, LIT.root));

  app.get('/health-check', {
    schema: {
      tags, summary: 'Health check: HTML, or JSON when Content-Type/Accept ask for application/json',
      security: [],
      response: { 200: { type: 'object', properties: { status: { type: 'string' }, message: { type: 'string' }, version: { type: 'string' } } } },
    },
  }, async (req, reply) => {
    if (wantsJson(req)) return sendText(reply, 200, JSON_TYPE, pretty({ status: 'OK', message: `Hello from ${APP_NAME}!`, version: VERSION }));
    return sendText(reply, 200, HTML_TYPE, LIT.healthHtml);
  });

  const lists: { url: string; kind: 'ip' | 'number' | 'ua' | 'method' | 'country'; total: string; list: string; key: string; none: string }[] = [
    { url: '/ip-addresses', kind: 'ip', total: 'ip_addresses_total', list: 'ip_addresses', key: 'ip_address', none: 'No bad actors found' },
    { url: '/numbers', kind: 'number', total: 'called_numbers_total', list: 'called_numbers', key: 'called_number', none: 'No phone numbers found' },
    { url: '/user-agents', kind: 'ua', total: 'user_agents_total', list: 'user_agents', key: 'user_agent', none: 'No user agents found' },
    { url: '/sip-methods', kind: 'method', total: 'sip_methods_total', list: 'sip_methods', key: 'sip_method', none: 'No SIP methods found' },
    { url: '/countries', kind: 'country', total: 'countries_total', list: 'countries', key: 'country', none: 'No countries found' },
  ];
  for (const l of lists) {
    app.get(l.url, {
      schema: {
        tags, summary: `All ${l.list.replace('_', ' ')}, newest first (pretty JSON, streamed)`,
        response: { 200: listSchema(l.total, l.list, l.key), 404: messageSchema },
      },
    }, async (req, reply) => {
      const opened = await reader.open('compatList', { kind: l.kind });
      if (opened.head.total === 0) {
        opened.body.destroy();
        return sendText(reply, 404, JSON_TYPE, messageBody(l.none));
      }
      return sendStream(req, reply, 200, JSON_TYPE, opened);
    });
  }

  app.get('/ip-addresses/ipset', {
    schema: {
      tags, summary: 'Addresses one per line (IPv4 then IPv6, numeric order)',
      querystring: { type: 'object', properties: { family: { type: 'string', enum: ['4', '6'] } } },
      response: { 200: { type: 'string' }, 400: errorSchema },
    },
    // SP ignores unknown query parameters; so does this route (only `family` is read).
    attachValidation: true,
  }, async (req: FastifyRequest<{ Querystring: { family?: string } }>, reply) => {
    const f = req.query.family;
    if (f !== undefined && f !== '4' && f !== '6') return sendText(reply, 400, JSON_TYPE, LIT.invalid);
    const family = f === '4' ? 4 : f === '6' ? 6 : null;
    return sendStream(req, reply, 200, TEXT_TYPE, await reader.open('ipset', { family }));
  });

  app.get('/ip-addresses/:ip', {
    schema: {
      tags, summary: 'Is this address a known bad actor? (IPv4 or IPv6, normalised)',
      params: { type: 'object', properties: { ip: { type: 'string' } } },
      response: { 200: foundSchema('bad_actor_found'), 400: errorSchema, 404: messageSchema },
    },
  }, async (req: FastifyRequest<{ Params: { ip: string } }>, reply) => {
    if (req.params.ip === '') return sendText(reply, 404, JSON_TYPE, LIT.notFound);
    const ip = normalizeIp(req.params.ip);
    if (ip === null) return sendText(reply, 400, JSON_TYPE, LIT.invalid);
    if (await reader.query<boolean>('ipExists', { ip })) return sendText(reply, 200, JSON_TYPE, pretty({ bad_actor_found: ip }));
    return sendText(reply, 404, JSON_TYPE, messageBody('No bad actor found'));
  });

  app.get('/numbers/:n', {
    schema: {
      tags, summary: 'Was this number called? Matches the raw number or its E.164 form',
      params: { type: 'object', properties: { n: { type: 'string' } } },
      response: { 200: foundSchema('phone_number_found'), 404: { anyOf: [messageSchema, errorSchema] } },
    },
  }, async (req: FastifyRequest<{ Params: { n: string } }>, reply) => {
    const n = req.params.n;
    if (!/^\+?[0-9]+$/.test(n)) return sendText(reply, 404, JSON_TYPE, LIT.notFound);
    const e164 = new Set<string>();
    const conv = toE164(n);
    if (conv) e164.add(conv);
    if (!n.startsWith('+')) e164.add('+' + n);
    else e164.add(n);
    if (await reader.query<boolean>('numberExists', { raw: n, e164: [...e164] })) {
      return sendText(reply, 200, JSON_TYPE, pretty({ phone_number_found: n }));
    }
    return sendText(reply, 404, JSON_TYPE, messageBody('No phone number found'));
  });

  const lookup = (url: string, key: string, none: string, op: string, param: string) =>
    app.get(url, {
      schema: {
        tags, summary: `Lookup (${key})`,
        params: { type: 'object', properties: { v: { type: 'string' } } },
        response: { 200: foundSchema(key), 404: messageSchema },
      },
    }, async (req: FastifyRequest<{ Params: { v: string } }>, reply: FastifyReply) => {
      const v = req.params.v;
      if (v !== '' && (await reader.query<boolean>(op, { [param]: v }))) return sendText(reply, 200, JSON_TYPE, pretty({ [key]: v }));
      return sendText(reply, 404, JSON_TYPE, messageBody(none));
    });
  lookup('/user-agents/:v', 'user_agent_found', 'No user agent found', 'userAgentExists', 'ua');
  lookup('/sip-methods/:v', 'sip_method_found', 'No SIP method found', 'methodExists', 'method');

  // Countries come from the writer's GeoIP lookup (the embedded country database unless --geoip-db says otherwise).
  app.get('/countries/:cc', {
    schema: {
      tags, summary: 'Was a source from this country (ISO 3166 alpha-2) seen?',
      params: { type: 'object', properties: { cc: { type: 'string' } } },
      response: { 200: foundSchema('country_found'), 404: messageSchema },
    },
  }, async (req: FastifyRequest<{ Params: { cc: string } }>, reply) => {
    const cc = req.params.cc;
    if (/^[A-Za-z]{2}$/.test(cc) && (await reader.query<boolean>('countryExists', { cc }))) return sendText(reply, 200, JSON_TYPE, pretty({ country_found: cc }));
    return sendText(reply, 404, JSON_TYPE, messageBody('No country found'));
  });
  app.get('/countries/:cc/:city', {
    schema: {
      tags, summary: 'Was a source from this city (English name, needs a City database) of this country seen?',
      params: { type: 'object', properties: { cc: { type: 'string' }, city: { type: 'string' } } },
      response: { 200: foundSchema('city_found'), 404: messageSchema },
    },
  }, async (req: FastifyRequest<{ Params: { cc: string; city: string } }>, reply) => {
    const { cc, city } = req.params;
    if (/^[A-Za-z]{2}$/.test(cc) && city !== '' && (await reader.query<boolean>('cityExists', { cc, city }))) {
      return sendText(reply, 200, JSON_TYPE, pretty({ city_found: city }));
    }
    return sendText(reply, 404, JSON_TYPE, messageBody('No city found'));
  });
}
