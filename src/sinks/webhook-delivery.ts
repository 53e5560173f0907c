/**
 * The webhook delivery engine: reads the durable outbox, POSTs rows, deletes/updates/marks them dead,
 * backs off, handles OAuth2. It knows nothing about threads: `webhook-worker.ts` runs it in a worker thread with
 * its own connection (the normal case), `webhook.ts` runs it on the main thread for `:memory:` stores (a second
 * connection cannot see those). Metrics and logs leave through {@link DeliveryReport}.
 */
import { createHmac } from 'node:crypto';
import { Agent, request } from 'undici';
import type { OutboxRow, WebhookOutbox } from '../store/outbox.js';
import { APP_NAME, VERSION } from '../version.js';
import { ERROR_CODES, SipwardenError } from '../errors.js';

/** OAuth2 client-credentials settings. */
export interface WebhookOAuth2 {
  clientId: string;
  clientSecret: string;
  tokenUrl: string;
  audience: string;
}

/** Structured-cloneable settings of the engine (also the worker's `workerData`, plus the path). */
export interface DeliverySettings {
  url: string;
  secret: string | null;
  oauth2: WebhookOAuth2 | null;
  timeoutMs: number;
  initialMs: number;
  maxMs: number;
  maxPending: number;
}

/** Where the engine's metrics and logs go (applied directly on the main thread, relayed from the worker). */
export interface DeliveryReport {
  delivered(n: number): void;
  errors(n: number): void;
  dropped(n: number): void;
  pending(v: number): void;
  dead(v: number): void;
  /** Log records carry no secrets, tokens or token replies. */
  log(level: 'info' | 'warn' | 'error', obj: Record<string, unknown>, msg: string): void;
}

/** A running delivery loop over one connection. */
export interface Delivery {
  /** Resyncs counts, then delivers (at once: after a restart the outage may be over). */
  start(): void;
  /** `n` outbox rows were committed: count them, trim to the cap, wake the loop. */
  added(n: number): void;
  /** In-flight requests get ≤1 s, then are aborted (rows stay pending); delivered rows are deleted. */
  stop(): Promise<void>;
}

const MAX_IN_FLIGHT = 4;
const DEAD_AFTER_US = 24 * 3600 * 1_000_000;
const DEAD_KEEP_US = 7 * 24 * 3600 * 1_000_000;
/** Rows per outbox read and per delete transaction. */
const PAGE = 100;
const DELETE_DELAY_MS = 100;
const MAINTENANCE_MS = 60_000;
/** Grace for in-flight requests on stop before they are aborted (they stay pending and go out after restart). */
const STOP_GRACE_MS = 1_000;

type Outcome =
  | { kind: 'ok' }
  | { kind: 'retry'; error: string; retryAfterMs: number | null }
  | { kind: 'dead'; error: string }
  | { kind: 'aborted' };

/** `X-Sipwarden-Signature` value: `t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`. */
export function webhookSignature(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** Parses `Retry-After` (delta seconds or HTTP date) into ms from now; null when absent or unreadable. */
export function parseRetryAfter(v: string | string[] | undefined, nowMs = Date.now()): number | null {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return null;
  if (/^\s*\d+\s*$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : Math.max(0, t - nowMs);
}

/** Backoff before retry number `n` (1-based): initial doubling to max, ±20 % jitter. */
export function backoffMs(n: number, initialMs: number, maxMs: number, rand = Math.random): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(40, Math.max(0, n - 1)));
  return Math.round(base * (0.8 + 0.4 * rand()));
}

/** Error text for `last_error` and logs: names and codes, never request or reply contents. */
export function errText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const cause = (err as { cause?: { code?: unknown } }).cause;
    return [err.name, typeof code === 'string' ? code : '', typeof cause?.code === 'string' ? cause.code : '', err.message]
      .filter(Boolean)
      .join(': ');
  }
  return String(err);
}

class TokenError extends SipwardenError {
  constructor(message: string) {
    super(ERROR_CODES.SINK_DELIVERY_FAILED, message);
    this.name = 'TokenError';
  }
}

/**
 * Creates the delivery loop over `outbox` (the store's typed webhook outbox).
 *
 * Rows go out in `outbox_id` order, ≤4 in flight. 2xx deletes the row (deletes batched, ≤100 ms); network
 * errors, timeouts, 408, 429/503 (Retry-After honoured), 5xx and 3xx retry: the whole loop pauses 1 s doubling
 * to 10 min ±20 % (concurrent failures of one round count once), and after a pause it sends a single probe —
 * only a success reopens 4 in flight, so a dead receiver costs one request per backoff interval. Other 4xx, or
 * 24 h of failures, mark the row `dead` (purged after 7 days). OAuth2: a 401/403 refreshes the token once and
 * retries once at once; a failing token endpoint is a retry.
 */
export function createDelivery(outbox: WebhookOutbox, s: DeliverySettings, report: DeliveryReport): Delivery {
  const url = new URL(s.url);
  const userAgent = `${APP_NAME}/${VERSION}`;
  const agent = new Agent({ connections: MAX_IN_FLIGHT, keepAliveTimeout: 4_000, connect: { timeout: s.timeoutMs } });
  const stopCtrl = new AbortController();

  let started = false;
  let stopped = false;
  let needReset = true;
  let pendingCount = 0;
  let deadCount = 0;
  let buffer: OutboxRow[] = [];
  const inFlight = new Map<number, Promise<void>>();
  let lastFetchedId = 0;
  let pausedUntil = 0;
  let consecutiveFailures = 0;
  let wakeTimer: NodeJS.Timeout | null = null;
  let maintTimer: NodeJS.Timeout | null = null;
  let pendingDeletes: number[] = [];
  let deleteTimer: NodeJS.Timeout | null = null;
  let lastErrorLogged = 0;

  function flushDeletes(): void {
    if (deleteTimer) {
      clearTimeout(deleteTimer);
      deleteTimer = null;
    }
    if (!pendingDeletes.length) return;
    const ids = pendingDeletes;
    pendingDeletes = [];
    try {
      outbox.deleteDelivered(ids);
    } catch (err) {
      // The rows stay and are delivered again after a restart (at-least-once).
      report.log('error', { err: errText(err) }, 'could not delete delivered outbox rows');
    }
  }

  function scheduleDelete(id: number): void {
    pendingDeletes.push(id);
    if (pendingDeletes.length >= PAGE) flushDeletes();
    else if (!deleteTimer) deleteTimer = setTimeout(flushDeletes, DELETE_DELAY_MS);
  }

  function run(update: () => void): void {
    try {
      update();
    } catch (err) {
      report.log('error', { err: errText(err) }, 'could not update outbox row');
    }
  }

  function refill(): void {
    if (needReset) {
      needReset = false;
      flushDeletes();
      buffer = [];
      lastFetchedId = 0;
    }
    let rows: OutboxRow[];
    try {
      rows = outbox.pending(lastFetchedId, PAGE);
    } catch (err) {
      report.log('error', { err: errText(err) }, 'could not read the webhook outbox');
      return;
    }
    for (const r of rows) {
      lastFetchedId = Math.max(lastFetchedId, r.outbox_id);
      if (!inFlight.has(r.outbox_id)) buffer.push(r);
    }
  }

  function putBack(row: OutboxRow): void {
    let i = 0;
    while (i < buffer.length && buffer[i]!.outbox_id < row.outbox_id) i++;
    buffer.splice(i, 0, row);
  }

  function armWake(): void {
    if (wakeTimer || stopped) return;
    wakeTimer = setTimeout(() => {
      wakeTimer = null;
      pump();
    }, Math.max(0, pausedUntil - Date.now()));
    wakeTimer.unref();
  }

  function pump(): void {
    if (!started || stopped) return;
    if (Date.now() < pausedUntil) {
      armWake();
      return;
    }
    // After failures only one probe goes out; its success reopens the full window.
    const limit = consecutiveFailures > 0 ? 1 : MAX_IN_FLIGHT;
    while (inFlight.size < limit && !stopped && Date.now() >= pausedUntil) {
      if (!buffer.length || needReset) refill();
      const row = buffer.shift();
      if (!row) break;
      if (inFlight.has(row.outbox_id)) continue;
      const p = deliver(row).finally(() => {
        inFlight.delete(row.outbox_id);
        pump();
      });
      inFlight.set(row.outbox_id, p);
    }
    if (Date.now() < pausedUntil && inFlight.size === 0) armWake();
  }

  async function deliver(row: OutboxRow): Promise<void> {
    let outcome: Outcome;
    try {
      outcome = await attempt(row);
    } catch (err) {
      outcome = stopCtrl.signal.aborted ? { kind: 'aborted' } : { kind: 'retry', error: errText(err), retryAfterMs: null };
    }
    const nowMs = Date.now();
    const nowUs = nowMs * 1000;
    switch (outcome.kind) {
      case 'aborted':
        return; // stopping: the row stays pending and goes out after restart
      case 'ok':
        consecutiveFailures = 0;
        report.delivered(1);
        pendingCount = Math.max(0, pendingCount - 1);
        report.pending(pendingCount);
        scheduleDelete(row.outbox_id);
        return;
      case 'dead':
        markDead(row, outcome.error, nowUs);
        return;
      case 'retry': {
        report.errors(1);
        row.attempts += 1;
        logFailure(row, outcome.error);
        if (nowUs - row.created_at_us >= DEAD_AFTER_US) {
          markDead(row, `${outcome.error} (24 h without success)`, nowUs);
          return;
        }
        // Requests of one round that fail together (receiver down) double the backoff once, not per request.
        if (nowMs >= pausedUntil) consecutiveFailures += 1;
        const delay = Math.max(backoffMs(consecutiveFailures, s.initialMs, s.maxMs), outcome.retryAfterMs ?? 0);
        pausedUntil = Math.max(pausedUntil, nowMs + delay);
        run(() => outbox.retryLater(row.outbox_id, row.attempts, (nowMs + delay) * 1000, outcome.error.slice(0, 500)));
        putBack(row);
        return;
      }
    }
  }

  function markDead(row: OutboxRow, error: string, nowUs: number): void {
    report.errors(1);
    logFailure(row, error, true);
    run(() => outbox.markDead(row.outbox_id, row.attempts + 1, nowUs, error.slice(0, 500)));
    pendingCount = Math.max(0, pendingCount - 1);
    deadCount += 1;
    report.pending(pendingCount);
    report.dead(deadCount);
  }

  function logFailure(row: OutboxRow, error: string, dead = false): void {
    const now = Date.now();
    if (dead) {
      report.log('warn', { eventUuid: row.event_uuid, error }, 'webhook entry is dead');
    } else if (now - lastErrorLogged > 10_000) {
      lastErrorLogged = now;
      report.log('warn', { eventUuid: row.event_uuid, error, attempts: row.attempts }, 'webhook delivery failed; retrying with backoff');
    }
  }

  async function post(row: OutboxRow, token: string | null): Promise<{ status: number; retryAfter: string | string[] | undefined }> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': userAgent,
      'x-sipwarden-event-id': row.event_uuid,
    };
    if (s.secret) headers['x-sipwarden-signature'] = webhookSignature(s.secret, row.body, Math.floor(Date.now() / 1000));
    if (token) headers.authorization = `Bearer ${token}`;
    const signal = AbortSignal.any([stopCtrl.signal, AbortSignal.timeout(s.timeoutMs)]);
    const res = await request(url, { method: 'POST', headers, body: row.body, signal, dispatcher: agent });
    // Read (and discard) the body within the same deadline: "2xx within 10 s" covers the whole exchange.
    await res.body.dump({ limit: 1 << 20, signal });
    return { status: res.statusCode, retryAfter: res.headers['retry-after'] };
  }

  function classify(status: number, retryAfter: string | string[] | undefined): Outcome {
    if (status >= 200 && status < 300) return { kind: 'ok' };
    const error = `HTTP ${status}`;
    if (status === 408 || status === 429 || status >= 500) {
      return { kind: 'retry', error, retryAfterMs: status === 429 || status === 503 ? parseRetryAfter(retryAfter) : null };
    }
    if (status >= 400) return { kind: 'dead', error };
    return { kind: 'retry', error, retryAfterMs: null }; // 1xx/3xx: not delivered, keep trying (24 h → dead)
  }

  async function attempt(row: OutboxRow): Promise<Outcome> {
    if (!oauth) {
      const r = await post(row, null);
      return classify(r.status, r.retryAfter);
    }
    let token: string;
    try {
      token = await oauth.get();
    } catch (err) {
      return { kind: 'retry', error: `oauth2 token: ${errText(err)}`, retryAfterMs: null };
    }
    let r = await post(row, token);
    if (r.status === 401 || r.status === 403) {
      oauth.invalidate(token);
      try {
        token = await oauth.get();
      } catch (err) {
        return { kind: 'retry', error: `oauth2 token: ${errText(err)}`, retryAfterMs: null };
      }
      r = await post(row, token);
      // one refresh and one immediate retry, then normal backoff (not dead).
      if (r.status === 401 || r.status === 403) return { kind: 'retry', error: `HTTP ${r.status} after token refresh`, retryAfterMs: null };
    }
    return classify(r.status, r.retryAfter);
  }

  // --- OAuth2 client credentials -------------------------------------------------------------
  const oauth = s.oauth2 ? createTokenCache(s.oauth2) : null;

  function createTokenCache(cfg: WebhookOAuth2): { get(): Promise<string>; invalidate(token: string): void } {
    let cached: { token: string; expiresAt: number } | null = null;
    let fetching: Promise<string> | null = null;
    async function fetchToken(): Promise<string> {
      const signal = AbortSignal.any([stopCtrl.signal, AbortSignal.timeout(s.timeoutMs)]);
      const body = JSON.stringify({
        client_id: cfg.clientId,
        client_secret: cfg.clientSecret,
        audience: cfg.audience,
        grant_type: 'client_credentials',
      });
      const res = await request(cfg.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': userAgent, accept: 'application/json' },
        body,
        signal,
        dispatcher: agent,
      });
      const text = await res.body.text();
      // Never include the reply (it may hold a token) or our request (it holds the secret) in errors.
      if (res.statusCode < 200 || res.statusCode >= 300) throw new TokenError(`token endpoint answered HTTP ${res.statusCode}`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new TokenError('token endpoint reply is not JSON');
      }
      const p = parsed as { access_token?: unknown; expires_in?: unknown };
      if (typeof p.access_token !== 'string' || !p.access_token) throw new TokenError('token endpoint reply has no access_token');
      const expiresIn = typeof p.expires_in === 'number' ? p.expires_in : typeof p.expires_in === 'string' ? Number(p.expires_in) : NaN;
      const expiresAt = Number.isFinite(expiresIn) ? Date.now() + (expiresIn - 30) * 1000 : Number.POSITIVE_INFINITY;
      cached = { token: p.access_token, expiresAt };
      return p.access_token;
    }
    return {
      async get() {
        if (cached && Date.now() < cached.expiresAt) return cached.token;
        if (!fetching) {
          fetching = fetchToken().finally(() => {
            fetching = null;
          });
        }
        return fetching;
      },
      invalidate(token: string) {
        if (cached?.token === token) cached = null;
      },
    };
  }

  // --- maintenance: dead purge, gauge resync -----------------------------------------------------------------
  function maintenance(): void {
    try {
      outbox.purgeDeadBefore(Date.now() * 1000 - DEAD_KEEP_US);
      const counts = outbox.counts();
      pendingCount = Math.max(0, counts.pending - pendingDeletes.length);
      deadCount = counts.dead;
      report.pending(pendingCount);
      report.dead(deadCount);
    } catch (err) {
      report.log('error', { err: errText(err) }, 'webhook outbox maintenance failed');
    }
  }

  return {
    start() {
      if (started) return;
      started = true;
      maintenance();
      maintTimer = setInterval(maintenance, MAINTENANCE_MS);
      maintTimer.unref();
      needReset = true;
      pausedUntil = 0;
      pump();
    },
    added(n) {
      if (stopped) return;
      pendingCount += n;
      if (pendingCount > s.maxPending) {
        try {
          const n = outbox.trimOldestPending(pendingCount - s.maxPending);
          pendingCount -= n;
          report.dropped(n);
        } catch (err) {
          report.log('error', { err: errText(err) }, 'could not trim the webhook outbox');
        }
        needReset = true;
      }
      report.pending(pendingCount);
      // While paused this only (re)arms the wake timer: no outbox read until the next probe is due.
      pump();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (wakeTimer) clearTimeout(wakeTimer);
      if (maintTimer) clearInterval(maintTimer);
      wakeTimer = maintTimer = null;
      if (inFlight.size) {
        let t: NodeJS.Timeout | undefined;
        const grace = new Promise<void>((r) => {
          t = setTimeout(r, STOP_GRACE_MS);
        });
        await Promise.race([Promise.allSettled([...inFlight.values()]), grace]);
        clearTimeout(t);
        stopCtrl.abort();
        await Promise.allSettled([...inFlight.values()]);
      }
      stopCtrl.abort();
      flushDeletes();
      await agent.destroy().catch(() => undefined);
    },
  };
}
