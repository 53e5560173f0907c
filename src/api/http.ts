/**
 * HTTP details shared by every route: header order, error bodies, path decoding, content
 * negotiation, timing-safe token checks, and sending strings or worker streams.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { APP_NAME, VERSION } from '../version.js';
import type { Reader } from './reader.js';

/** SP's exact content types. */
export const JSON_TYPE = 'application/json';
export const HTML_TYPE = 'text/html';
export const TEXT_TYPE = 'text/plain; charset=utf-8';

/** The fixed bodies.5 (*lit*). */
export const LIT = {
  root: '{"status": "OK"}',
  healthHtml: `<html><body><h1>Hello from ${APP_NAME}!</h1><h2>All is well!</h2></body></html>`,
  notFound: '{"error": "The requested resource could not be found."}',
  invalid: '{"error": "The request data was invalid"}',
  methodNotAllowed: '{"error": "Method not allowed"}',
  unauthorized: '{"error": "Unauthorized"}',
  tooMany: '{"error": "Too many requests"}',
} as const;

/** Methods every route answers. */
export const ALLOW = 'GET, HEAD, OPTIONS';

/** Path the URL rewriter gives a request whose path is not valid percent-encoding. */
export const BAD_PATH = '/__sipwarden_bad_path__';

/** `{"error": "<message>"}` in SP's spacing. */
export function errorBody(message: string): string {
  return `{"error": ${JSON.stringify(message)}}`;
}

/** `{"message": "<message>"}` in SP's spacing (404 answers of the SP lists and lookups). */
export function messageBody(message: string): string {
  return `{"message": ${JSON.stringify(message)}}`;
}

/** Pretty JSON. */
export function pretty(v: unknown): string {
  return JSON.stringify(v, null, 2);
}

/** Lowercase names of the headers that lead every answer, in order, after Date. */
const LEADING = ['content-type', 'access-control-allow-origin', 'x-powered-by', 'x-sipwarden-version'];

/**
 * onSend hook body: puts `Date`, `Content-Type`, `Access-Control-Allow-Origin`, `X-Powered-By`,
 * `X-Sipwarden-Version` first, then anything middleware added; `Content-Length` is re-added last by fastify.
 */
export function orderHeaders(reply: FastifyReply): void {
  const exact = exactTypes.get(reply);
  // Fast path: leadHeaders() already put the leading headers first; only the exact Content-Type needs restoring.
  if (reply.hasHeader('x-sipwarden-version') && firstHeader(reply) === 'date') {
    if (exact !== undefined) reply.header('content-type', exact);
    else if (reply.statusCode === 204) reply.removeHeader('content-type');
    return;
  }
  const all = reply.getHeaders();
  if (exact !== undefined) all['content-type'] = exact;
  const rest: [string, unknown][] = [];
  for (const [k, v] of Object.entries(all)) {
    if (k === 'date' || k === 'content-length' || LEADING.includes(k)) continue;
    rest.push([k, v]);
  }
  const ct = all['content-type'];
  for (const k of Object.keys(all)) reply.removeHeader(k);
  reply.header('date', httpDate());
  if (ct !== undefined) reply.header('content-type', ct);
  reply.header('access-control-allow-origin', '*');
  reply.header('x-powered-by', APP_NAME);
  reply.header('x-sipwarden-version', VERSION);
  for (const [k, v] of rest) reply.header(k, v);
}

let dateCache = '';
let dateCacheSecond = -1;
/** IMF-fixdate of now, recomputed once per second. */
function httpDate(): string {
  const s = Math.floor(Date.now() / 1000);
  if (s !== dateCacheSecond) {
    dateCacheSecond = s;
    dateCache = new Date(s * 1000).toUTCString();
  }
  return dateCache;
}

function firstHeader(reply: FastifyReply): string | undefined {
  for (const k in reply.getHeaders()) return k;
  return undefined;
}

/**
 * onRequest hook body: sets the leading headers first,.3 order, so later writes of the same names keep
 * these positions and {@link orderHeaders} has nothing to move. `content-type` is a placeholder until the route sets it.
 */
export function leadHeaders(reply: FastifyReply): void {
  reply.header('date', httpDate());
  reply.header('content-type', 'application/json');
  reply.header('access-control-allow-origin', '*');
  reply.header('x-powered-by', APP_NAME);
  reply.header('x-sipwarden-version', VERSION);
}

/**
 * Decodes the whole path once (the API contract: `%2B` → `+`, literal `+` kept) and re-encodes each segment, so the
 * router matches decoded text and hands decoded parameters to the routes. The query is kept as sent.
 */
export function rewriteUrl(url: string): string {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q);
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return BAD_PATH + query;
  }
  if (!decoded.startsWith('/')) decoded = '/' + decoded;
  return decoded.split('/').map(encodeURIComponent).join('/') + query;
}

/** JSON when Content-Type starts with application/json, or Accept names it with q > 0. */
export function wantsJson(req: FastifyRequest): boolean {
  const ct = req.headers['content-type'];
  if (typeof ct === 'string' && ct.trim().toLowerCase().startsWith('application/json')) return true;
  const accept = req.headers.accept;
  if (typeof accept !== 'string') return false;
  for (const part of accept.split(',')) {
    const [type, ...params] = part.split(';');
    if (type?.trim().toLowerCase() !== 'application/json') continue;
    let q = 1;
    for (const p of params) {
      const [k, v] = p.split('=');
      if (k?.trim().toLowerCase() === 'q') q = Number(v?.trim());
    }
    if (Number.isFinite(q) && q > 0) return true;
  }
  return false;
}

/** Compares a presented token with the configured ones in constant time (hashes equalise lengths). */
export function tokenMatches(presented: string, tokens: readonly string[]): boolean {
  const p = createHash('sha256').update(presented, 'utf8').digest();
  let ok = false;
  for (const t of tokens) {
    const h = createHash('sha256').update(t, 'utf8').digest();
    if (timingSafeEqual(p, h)) ok = true; // no early exit: every token is compared
  }
  return ok;
}

/** Content types as the route set them: fastify appends `; charset=utf-8` to JSON, SP sends it bare. */
const exactTypes = new WeakMap<FastifyReply, string>();

/** Sets the Content-Type exactly as given (restored by {@link orderHeaders}). */
export function setType(reply: FastifyReply, type: string): FastifyReply {
  exactTypes.set(reply, type);
  return reply.header('content-type', type);
}

/** Sends a complete string body. */
export function sendText(reply: FastifyReply, status: number, type: string, body: string): FastifyReply {
  return setType(reply.code(status), type).send(body);
}

/** Rows at or below which a streamed list is buffered and sent with a Content-Length. */
export const BUFFER_ROWS = 2000;

/**
 * Sends a worker stream: small results are collected and sent with a Content-Length (the exact headers of
 * the API contract); big ones are streamed chunked, memory bounded. HEAD never pulls a big body.
 */
export async function sendStream(
  req: FastifyRequest, reply: FastifyReply, status: number, type: string,
  opened: { head: { total: number }; body: Readable },
): Promise<FastifyReply> {
  const { head, body } = opened;
  setType(reply.code(status), type);
  if (head.total <= BUFFER_ROWS) {
    const parts: string[] = [];
    for await (const c of body) parts.push(typeof c === 'string' ? c : (c as Buffer).toString('utf8'));
    return reply.send(parts.join(''));
  }
  if (req.method === 'HEAD') {
    body.destroy();
    return reply.send('');
  }
  req.raw.on('close', () => body.destroy());
  return reply.send(body);
}

/** Opens a worker stream and sends it. */
export async function streamOp(
  reader: Reader, req: FastifyRequest, reply: FastifyReply, op: string, params: unknown, type: string,
): Promise<FastifyReply> {
  return sendStream(req, reply, 200, type, await reader.open(op, params));
}
