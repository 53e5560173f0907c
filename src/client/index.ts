/**
 * `sipwarden/client`: a small typed client of a node's REST API. The path and response types are generated from
 * the node's OpenAPI document (./schema.ts); requests go through `openapi-fetch`. On top of it: bearer auth,
 * bounded retries that honour `Retry-After` on 429, async iterators over the keyset-paged `/api/v1` lists and
 * over Server-Sent-Event routes, and typed errors.
 *
 * ```ts
 * import { SipwardenClient } from 'sipwarden/client';
 * const api = new SipwardenClient({ baseUrl: 'http://127.0.0.1:8082', token: process.env.SIPWARDEN_API_TOKEN });
 * for await (const ip of api.items('/api/v1/ip-addresses', { since: '2026-01-01T00:00:00Z' })) console.log(ip.ip, ip.count);
 * ```
 */
import createFetchClient, { type Client } from 'openapi-fetch';
import type { paths } from './schema.js';
import { parseSse, type SseEvent } from './sse.js';

export type { paths, components, operations } from './schema.js';
export { parseSse, type SseEvent } from './sse.js';

/** Paths that answer GET. */
export type GetPath = { [P in keyof paths]: paths[P] extends { get: object } ? P : never }[keyof paths];
/** The query parameters of a GET path. */
export type QueryOf<P extends GetPath> = NonNullable<Get<P>['parameters']['query']>;
/** The JSON body of a GET path's 200 answer. */
export type ResponseOf<P extends GetPath> = Get<P>['responses'] extends { 200: { content: { 'application/json': infer T } } } ? T : never;
type Get<P extends GetPath> = paths[P] extends { get: infer G extends { parameters: { query?: unknown }; responses: unknown } } ? G : never;

/** The keyset-paged `/api/v1` lists and the key of each page's array. */
export const PAGED_LISTS = {
  '/api/v1/events': 'events',
  '/api/v1/ip-addresses': 'ip_addresses',
  '/api/v1/numbers': 'numbers',
  '/api/v1/credentials': 'credentials',
  '/api/v1/user-agents': 'user_agents',
} as const;
/** A keyset-paged list path. */
export type PagedPath = keyof typeof PAGED_LISTS;
/** One row of a paged list. */
export type ItemOf<P extends PagedPath> = ResponseOf<P> extends { [K in (typeof PAGED_LISTS)[P]]: (infer T)[] } ? T : never;

/** Options of {@link SipwardenClient}. */
export interface ClientOptions {
  /** The node's API base URL, e.g. `http://127.0.0.1:8082` (a path prefix is kept). */
  baseUrl: string;
  /** Bearer token (`--api-token` of the node); omitted when the API is anonymous. */
  token?: string | null;
  /** Retries of a request answered 429 (default 3); each waits the answer's `Retry-After`. */
  maxRetries?: number;
  /** Longest wait for one retry, ms (default 60 000): a longer `Retry-After` is not waited for. */
  maxRetryDelayMs?: number;
  /** Per-request time limit, ms, for the whole answer (default 30 000; streams: until the answer's headers). */
  timeoutMs?: number;
  /** Called before each retry (for logs). */
  onRetry?: (info: { url: string; attempt: number; delayMs: number }) => void;
  /** The fetch to use (default: the global one). */
  fetch?: typeof globalThis.fetch;
}

/** Base class of the client's errors. */
export class SipwardenClientError extends Error {
  /** The request URL. */
  readonly url: string;
  constructor(message: string, url: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SipwardenClientError';
    this.url = url;
  }
}

/** The API could not be reached (refused, DNS, TLS, reset, time-out): no HTTP answer at all. */
export class ApiUnreachableError extends SipwardenClientError {
  /** Short cause: an OS code (`ECONNREFUSED`, `ENOTFOUND`), `timed out`, or the underlying message. */
  readonly reason: string;
  constructor(url: string, cause: unknown) {
    const reason = describeCause(cause);
    super(`cannot reach the API at ${url}: ${reason}`, url, { cause });
    this.name = 'ApiUnreachableError';
    this.reason = reason;
  }
}

/** The API answered with an error status; `message` carries its `error` text. */
export class ApiHttpError extends SipwardenClientError {
  /** HTTP status. */
  readonly status: number;
  /** The parsed JSON body, or its text. */
  readonly body: unknown;
  constructor(status: number, body: unknown, url: string) {
    const text = typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string'
      ? (body as { error: string }).error
      : typeof body === 'string' && body !== '' ? body.slice(0, 200) : `HTTP ${status}`;
    super(`${status}: ${text}`, url);
    this.name = 'ApiHttpError';
    this.status = status;
    this.body = body;
  }
}

/** Still 429 after the allowed retries (or the server asked for a longer wait than allowed). */
export class ApiRateLimitedError extends ApiHttpError {
  /** The last `Retry-After`, seconds (null when absent). */
  readonly retryAfter: number | null;
  constructor(body: unknown, url: string, retryAfter: number | null) {
    super(429, body, url);
    this.name = 'ApiRateLimitedError';
    this.retryAfter = retryAfter;
  }
}

function describeCause(cause: unknown): string {
  const c = cause as { cause?: { code?: string; message?: string }; code?: string; message?: string; name?: string };
  if (c?.name === 'TimeoutError') return 'timed out';
  const inner = c?.cause ?? c;
  return inner?.code ?? inner?.message ?? String(cause);
}

/** `Retry-After` as ms: delta-seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | null {
  if (value === null) return null;
  const v = value.trim();
  if (/^\d{1,10}$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, t - now);
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

async function bodyOf(res: Response): Promise<unknown> {
  const text = await res.text().catch(() => '');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Options of {@link SipwardenClient.stream}. */
export interface StreamOptions {
  /** Resume after this event id (sent as `Last-Event-ID`). */
  lastEventId?: string;
  /** Ends the stream (the iterator then returns). */
  signal?: AbortSignal;
  /** Query parameters of the route. */
  query?: Record<string, string>;
}

/** The typed client. */
export class SipwardenClient {
  /** The underlying `openapi-fetch` client (every path typed); shares auth, retry and errors. */
  readonly raw: Client<paths>;
  /** Base URL without a trailing slash. */
  readonly baseUrl: string;
  private readonly opts: Required<Pick<ClientOptions, 'maxRetries' | 'maxRetryDelayMs' | 'timeoutMs'>> & ClientOptions;
  private readonly fetchImpl: typeof globalThis.fetch;

  constructor(options: ClientOptions) {
    let u: URL;
    try {
      u = new URL(options.baseUrl);
    } catch {
      throw new TypeError(`invalid API base URL ${JSON.stringify(options.baseUrl)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`API base URL must be http(s): ${options.baseUrl}`);
    // Trailing slashes dropped by a loop (a /\/+$/ would be quadratic on a long run of slashes).
    let base = options.baseUrl;
    while (base.endsWith('/')) base = base.slice(0, -1);
    this.baseUrl = base;
    this.opts = { maxRetries: 3, maxRetryDelayMs: 60_000, timeoutMs: 30_000, ...options };
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.raw = createFetchClient<paths>({ baseUrl: this.baseUrl, fetch: (req: Request) => this.send(req, false) });
  }

  /**
   * Sends one request with auth; on 429 waits `Retry-After` (bounded) and tries again. Network failures become
   * {@link ApiUnreachableError}; a 429 left after the retries becomes {@link ApiRateLimitedError}.
   */
  private async send(req: Request, streaming: boolean, signal?: AbortSignal): Promise<Response> {
    const headers = new Headers(req.headers);
    if (this.opts.token) headers.set('authorization', `Bearer ${this.opts.token}`);
    const url = req.url;
    for (let attempt = 0; ; attempt++) {
      // The time limit covers the whole answer of a plain request, and only the wait for the headers of a stream.
      const limit = new AbortController();
      const timer = setTimeout(() => limit.abort(new DOMException('timed out', 'TimeoutError')), this.opts.timeoutMs);
      const sig = signal ? AbortSignal.any([signal, limit.signal]) : limit.signal;
      let res: Response;
      try {
        res = await this.fetchImpl(url, { method: req.method, headers, signal: sig });
      } catch (err) {
        clearTimeout(timer);
        if (signal?.aborted) throw err;
        throw new ApiUnreachableError(url, limit.signal.aborted ? limit.signal.reason : err);
      }
      if (streaming) clearTimeout(timer);
      else {
        // Read the body under the limit, then hand back a complete response.
        try {
          const buf = await res.arrayBuffer();
          const nullBody = res.status === 204 || res.status === 205 || res.status === 304;
          res = new Response(nullBody ? null : buf, { status: res.status, statusText: res.statusText, headers: res.headers });
        } catch (err) {
          if (signal?.aborted) throw err;
          throw new ApiUnreachableError(url, limit.signal.aborted ? limit.signal.reason : err);
        } finally {
          clearTimeout(timer);
        }
      }
      if (res.status !== 429) return res;
      const header = res.headers.get('retry-after');
      const wait = retryAfterMs(header) ?? 1000;
      if (attempt >= this.opts.maxRetries || wait > this.opts.maxRetryDelayMs) {
        const secs = header !== null && /^\d+$/.test(header.trim()) ? Number(header.trim()) : null;
        throw new ApiRateLimitedError(await bodyOf(res), url, secs);
      }
      await res.body?.cancel().catch(() => undefined);
      this.opts.onRetry?.({ url, attempt: attempt + 1, delayMs: wait });
      await sleep(wait, signal);
    }
  }

  /** GET a JSON route; resolves its 200 body, throws {@link ApiHttpError} on any other status. */
  async get<P extends GetPath>(path: P, query?: QueryOf<P>): Promise<ResponseOf<P>> {
    const get = this.raw.GET as unknown as (p: string, init: { params: { query?: unknown } }) => Promise<{ data?: unknown; error?: unknown; response: Response }>;
    const r = await get(path, { params: { query: clean(query) } });
    if (!r.response.ok) throw new ApiHttpError(r.response.status, r.error, r.response.url || this.baseUrl + path);
    return r.data as ResponseOf<P>;
  }

  /** GET a text route (e.g. `/api/v1/blocklist?format=nftables`); resolves the body text. */
  async text<P extends GetPath>(path: P, query?: QueryOf<P>): Promise<string> {
    const get = this.raw.GET as unknown as (p: string, init: { params: { query?: unknown }; parseAs: 'text' }) => Promise<{ data?: unknown; error?: unknown; response: Response }>;
    const r = await get(path, { params: { query: clean(query) }, parseAs: 'text' });
    if (!r.response.ok) throw new ApiHttpError(r.response.status, r.error, r.response.url || this.baseUrl + path);
    return r.data as string;
  }

  /** Every page of a paged list, following `next_cursor` until it is null. */
  async *pages<P extends PagedPath>(path: P, query?: Omit<QueryOf<P>, 'cursor'>): AsyncGenerator<ResponseOf<P>, void, undefined> {
    let cursor: string | undefined;
    for (;;) {
      const page = await this.get(path, { ...query, ...(cursor === undefined ? {} : { cursor }) } as QueryOf<P>);
      yield page;
      const next = (page as { next_cursor?: string | null }).next_cursor;
      if (next === null || next === undefined) return;
      cursor = next;
    }
  }

  /** Every row of a paged list, in the route's order (one request per page). */
  async *items<P extends PagedPath>(path: P, query?: Omit<QueryOf<P>, 'cursor'>): AsyncGenerator<ItemOf<P>, void, undefined> {
    const key = PAGED_LISTS[path];
    for await (const page of this.pages(path, query)) {
      for (const item of (page as Record<string, unknown>)[key] as ItemOf<P>[]) yield item;
    }
  }

  /**
   * The events of a Server-Sent-Events route (e.g. `/api/v1/blocklist/stream`) as they arrive; comments are
   * skipped. Ends when the server closes the stream or `signal` aborts. Resume with `lastEventId`.
   */
  async *stream(path: GetPath, options: StreamOptions = {}): AsyncGenerator<SseEvent, void, undefined> {
    const qs = options.query && Object.keys(options.query).length > 0 ? `?${new URLSearchParams(options.query).toString()}` : '';
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
    const url = this.baseUrl + path + qs;
    const res = await this.send(new Request(url, { headers }), true, options.signal);
    if (!res.ok) throw new ApiHttpError(res.status, await bodyOf(res), url);
    if (!res.body) return;
    try {
      yield* parseSse(res.body, options.signal);
    } catch (err) {
      if (options.signal?.aborted) return;
      throw new ApiUnreachableError(url, err);
    }
  }
}

/** Drops undefined values so they are not sent as `key=undefined`. */
function clean(q: object | undefined): Record<string, unknown> | undefined {
  if (q === undefined) return undefined;
  return Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined));
}
