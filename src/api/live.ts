/**
 * `GET /api/v1/events/stream`: newly committed events as Server-Sent Events, for the dashboard's live feed and for
 * scripts. The store tells the main thread of each committed batch (`onCommit`); each reader gets the batch's
 * events as `event: event` messages. Token-protected like the rest of `/api/v1` (the server's bearer check).
 * Output is bounded per reader: a reader whose unsent output passes the bound is cut off (it reconnects and reads
 * older events through `/api/v1/events`), and a batch larger than {@link LIVE_MAX_PER_BATCH} sends its newest
 * events and one `skipped` message counting the rest, so a flood never queues more than a bound and a batch per reader.
 */
import type { FastifyInstance } from 'fastify';
import type { HoneypotEvent } from '../events/event.js';
import { rfc3339 } from './format.js';

/** Unsent bytes per reader before it is cut off. */
export const LIVE_MAX_BUFFER = 1024 * 1024;
/** Events sent per committed batch; the rest are counted in a `skipped` message. */
export const LIVE_MAX_PER_BATCH = 200;
/** Comment line sent this often so proxies keep the connection. */
const HEARTBEAT_MS = 15_000;

/** Where committed batches come from (`EventStore.onCommit`). */
export type CommitSource = (listener: (events: readonly HoneypotEvent[]) => void) => () => void;

/** One event as the stream sends it: the fields of an `/api/v1/events` item, without the row id and SIP text. */
export function liveEventJson(e: HoneypotEvent): string {
  return JSON.stringify({
    event_uuid: e.eventUuid, event_time: rfc3339(e.eventTimeUs), source_ip: e.sourceIp, source_port: e.sourcePort,
    destination_ip: e.destinationIp, destination_port: e.destinationPort, transport: e.transport, method: e.method,
    called_number: e.calledNumber, called_number_e164: e.calledNumberE164, user_agent: e.userAgent, origin: e.origin,
    origin_peer_id: e.originPeerId, response_code: e.responseCode, source_verified: e.sourceVerified,
    source_country: e.sourceCountry, source_asn: e.sourceAsn ?? null, source_org: e.sourceOrg ?? null,
    has_credentials: e.auth !== null,
  });
}

const nullable = (type: string) => ({ type: [type, 'null'] });

/** The schema of one `event` message's data (documented in the OpenAPI document). */
export const LIVE_EVENT_SCHEMA = {
  type: 'object',
  properties: {
    event_uuid: { type: 'string' }, event_time: { type: 'string', format: 'date-time' }, source_ip: { type: 'string' },
    source_port: nullable('integer'), destination_ip: { type: 'string' }, destination_port: nullable('integer'),
    transport: { type: 'string' }, method: { type: 'string' }, called_number: { type: 'string' }, called_number_e164: nullable('string'),
    user_agent: { type: 'string' }, origin: { type: 'string', enum: ['local', 'peer', 'opendht', 'legacy'] }, origin_peer_id: nullable('string'),
    response_code: nullable('integer'), source_verified: { type: 'boolean' }, source_country: nullable('string'),
    source_asn: nullable('integer'), source_org: nullable('string'), has_credentials: { type: 'boolean' },
  },
} as const;

/** Registers the stream route on `app`. */
export function registerLiveRoute(app: FastifyInstance, onCommit: CommitSource, opts: { maxBuffer?: number; maxPerBatch?: number } = {}): void {
  const maxBuffer = opts.maxBuffer ?? LIVE_MAX_BUFFER;
  const maxPerBatch = opts.maxPerBatch ?? LIVE_MAX_PER_BATCH;
  app.get('/api/v1/events/stream', {
    schema: {
      tags: ['v1'],
      summary: 'New events as Server-Sent Events (event: event, data: one event as JSON; event: skipped, data: {"count": N})',
      description: 'Sends `event: ready` first, then each committed event as `event: event` with the JSON object below as data. '
        + `At most ${LIVE_MAX_PER_BATCH} events per committed batch are sent (the newest); the rest are counted in an \`event: skipped\` message. `
        + `A reader that lets more than ${LIVE_MAX_BUFFER} bytes of output pile up is disconnected. Older events: /api/v1/events.`,
      querystring: { type: 'object', additionalProperties: false, properties: {} },
      response: {
        200: {
          description: 'text/event-stream; each `data:` line of an `event` message holds this object',
          content: { 'text/event-stream': { schema: LIVE_EVENT_SCHEMA } },
        },
      },
    },
  }, (_req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no',
      'access-control-allow-origin': '*',
    });
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      unsubscribe();
      clearInterval(beat);
      res.destroy(); // not end(): a reader that does not read would keep the unsent output forever
    };
    const write = (s: string): void => {
      if (closed) return;
      // Output from earlier batches still unsent past the bound: this reader does not keep up.
      if (res.writableLength > maxBuffer) {
        close();
        return;
      }
      res.write(s);
    };
    const unsubscribe = onCommit((events) => {
      if (closed) return;
      const from = Math.max(0, events.length - maxPerBatch);
      let out = from > 0 ? `event: skipped\ndata: {"count":${from}}\n\n` : '';
      for (let i = from; i < events.length; i++) out += `event: event\ndata: ${liveEventJson(events[i]!)}\n\n`;
      write(out);
    });
    const beat = setInterval(() => write(': keep-alive\n\n'), HEARTBEAT_MS);
    beat.unref();
    res.on('close', close);
    write('event: ready\ndata: {}\n\n');
  });
}
