/**
 * The dashboard's static files under `/ui/` (built by scripts/build-ui.mjs into dist/ui). They hold no data: every
 * figure comes from the token-protected API, so the files themselves are served without the bearer check. The set of
 * files is read once at start (a fixed list: no path from a request ever reaches the file system), with a strict
 * Content-Security-Policy: this origin only, no inline script, nothing third-party.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { JSON_TYPE, errorBody, sendText } from './http.js';

/** The policy every `/ui/` answer carries. */
export const UI_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
  + "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Route patterns of the dashboard (public: the files carry no data). */
export const UI_ROUTES = ['/ui', '/ui/*'];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.map': 'application/json',
};

/** Where the built files are: dist/ui beside dist/api, or (running from the sources) the checkout's dist/ui. */
export function findUiDir(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const d of [join(here, '..', 'ui'), join(here, '..', '..', 'dist', 'ui')]) {
    if (existsSync(join(d, 'index.html'))) return d;
  }
  return null;
}

function headers(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', UI_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('x-frame-options', 'DENY');
}

/** Registers `/ui` and `/ui/*` on `app`, serving the files of `dir` (default {@link findUiDir}). */
export function registerUiRoutes(app: FastifyInstance, dir: string | null = findUiDir()): void {
  const files = new Map<string, { type: string; body: Buffer }>();
  if (dir !== null) {
    for (const name of readdirSync(dir)) {
      const type = TYPES[extname(name)];
      if (type) files.set(name, { type, body: readFileSync(join(dir, name)) });
    }
  }
  // Static files, not part of the API: left out of the OpenAPI document.
  const schema = { hide: true };
  app.get('/ui', { schema }, (_req, reply) => headers(reply).code(301).header('location', '/ui/').send());
  app.get('/ui/*', { schema }, (req, reply) => {
    const name = (req.params as { '*': string })['*'] || 'index.html';
    const f = files.get(name);
    headers(reply);
    if (!f) {
      const msg = files.size === 0 ? 'dashboard not built (npm run build)' : 'not found';
      return sendText(reply, 404, JSON_TYPE, errorBody(msg));
    }
    // The page changes with each build; its script and style names are fixed, so nothing is cached for long.
    reply.header('cache-control', 'no-cache');
    return reply.code(200).type(f.type).send(f.body);
  });
}
