import { createHmac } from 'node:crypto';
import type Database from 'better-sqlite3';
import { Agent, request } from 'undici';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { HookModuleSpec } from '../store/hooks.js';
import type { EventStore } from '../store/types.js';
import { insertOutboxRows } from './outbox-hook.js';

export { webhookBody } from './outbox-hook.js';
import { APP_NAME, VERSION } from '../version.js';
import type { Sink } from './types.js';

/** OAuth2 client-credentials settings (SPEC §12.2). */
export interface WebhookOAuth2 {
  clientId: string;
  clientSecret: string;
  tokenUrl: string;
  audience: string;
}

/** Inputs of the webhook sink. */
export interface WebhookSinkInit {
  /** `-w` URL (http or https). */
  url: string;
  /** `--webhook-secret`: adds `X-Sipwarden-Signature` when set. */
  secret: string | null;
  oauth2: WebhookOAuth2 | null;
  /** The store whose batch transactions also write the outbox rows; must be started before `start()`. */
  store: EventStore;
  metrics: Metrics;
  logger: Logger;
  /** Per-attempt timeout (whole request/response), ms. Default 10,000 (SPEC §12.1). */
  timeoutMs?: number;
  /** Retry backoff, ms: first delay and cap. Defaults 1,000 and 600,000 (SPEC §12.1); tests shorten them. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** Pending-entry cap (oldest dropped). Default 1,000,000 (SPEC §12.1). */
  maxPending?: number;
}

const SINK = 'webhook';
const MAX_IN_FLIGHT = 4;
const DEAD_AFTER_US = 24 * 3600 * 1_000_000;
const DEAD_KEEP_US = 7 * 24 * 3600 * 1_000_000;
const FETCH_PAGE = 256;
const MAINTENANCE_MS = 60_000;
/** Grace for in-flight requests on stop before they are aborted (they stay pending and go out after restart). */
const STOP_GRACE_MS = 1_000;

interface OutboxRow {
  outbox_id: number;
  event_uuid: string;
  body: string;
  attempts: number;
  created_at_us: number;
}

type Outcome =
  | { kind: 'ok' }
  | { kind: 'retry'; error: string; retryAfterMs: number | null }
  | { kind: 'dead'; error: string }
  | { kind: 'aborted' };

/** `X-Sipwarden-Signature` value: `t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>` (SPEC §12.1). */
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

/** Backoff before retry number `n` (1-based): initial doubling to max, ±20 % jitter (SPEC §12.1). */
export function backoffMs(n: number, initialMs: number, maxMs: number, rand = Math.random): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(40, Math.max(0, n - 1)));
  return Math.round(base * (0.8 + 0.4 * rand()));
}

class TokenError extends Error {}

/**
 * Webhook sink with a durable outbox (SPEC §12).
 *
 * Durability: the factory registers a store batch hook, so every stored event (local or peer) gets one
 * `webhook_outbox` row in the same transaction as its `honey` row. `offer()` is therefore a deliberate no-op —
 * the event reaches the webhook through the store, and nothing is queued in memory that a crash could lose.
 *
 * Delivery: a worker reads pending rows in `outbox_id` order and POSTs them (≤4 in flight). 2xx deletes the
 * row; network errors, timeouts, 408, 429 (Retry-After honoured), 5xx and 3xx retry with backoff (the whole
 * worker pauses, since the receiver is likely down; order is kept while it is healthy); other 4xx, or 24 h of
 * failures, mark the row `dead` (purged after 7 days). With OAuth2 a 401/403 refreshes the token and retries
 * once immediately; a token endpoint that is down leaves rows pending. After a restart, pending rows resume
 * (at-least-once: a row delivered just before a crash may be sent again; receivers dedupe on
 * `X-Sipwarden-Event-Id`).
 */
export function createWebhookSink(init: WebhookSinkInit): Sink {
  const { store, metrics } = init;
  const logger = init.logger.child({ sink: SINK });
  const timeoutMs = init.timeoutMs ?? 10_000;
  const initialMs = init.backoff?.initialMs ?? 1_000;
  const maxMs = init.backoff?.maxMs ?? 600_000;
  const maxPending = init.maxPending ?? 1_000_000;
  const delivered = metrics.sinkDelivered.labels({ sink: SINK });
  const errors = metrics.sinkErrors.labels({ sink: SINK });
  const dropped = metrics.sinkDropped.labels({ sink: SINK });
  const userAgent = `${APP_NAME}/${VERSION}`;
  const url = new URL(init.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`webhook URL must be http(s): ${url.protocol}`);

  let pendingCount = 0;
  let deadCount = 0;
  let started = false;
  let stopped = false;
  let needReset = true;
  let wakeScheduled = false;

  // --- the outbox writer (runs inside the store's batch transaction) ---------------------------------------
  // Preferred: a module hook, which the store runs in its writer thread inside the batch transaction. It must
  // be registered before the store starts; otherwise (or with a store without module hooks) the function hook
  // below inserts the rows itself — inside the transaction with a main-thread writer, right after the commit
  // with a worker writer (a crash in between could then lose that batch's outbox rows).
  let moduleHook = false;
  const withModules = store as EventStore & { addBatchHookModule?: (spec: HookModuleSpec) => void };
  if (typeof withModules.addBatchHookModule === 'function') {
    const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
    try {
      withModules.addBatchHookModule({ module: new URL(`./outbox-hook.${ext}`, import.meta.url).href, exportName: 'createOutboxHook' });
      moduleHook = true;
    } catch {
      logger.warn('webhook sink created after the store started: outbox rows are written just after each batch commits');
    }
  }
  store.addBatchHook((db, events) => {
    if (!moduleHook) insertOutboxRows(db, events);
    pendingCount += events.length;
    if (pendingCount > maxPending) {
      const excess = pendingCount - maxPending;
      try {
        const r = db
          .prepare(
            "DELETE FROM webhook_outbox WHERE outbox_id IN (SELECT outbox_id FROM webhook_outbox WHERE state = 'pending' ORDER BY outbox_id LIMIT ?)",
          )
          .run(excess);
        pendingCount -= r.changes;
        dropped.inc(r.changes);
      } catch (err) {
        logger.error({ err }, 'could not trim the webhook outbox');
      }
      needReset = true;
    }
    metrics.webhookPending.set(pendingCount);
    if (!wakeScheduled) {
      wakeScheduled = true;
      // After the transaction commits (the hook runs synchronously inside it).
      setImmediate(() => {
        wakeScheduled = false;
        pump();
      });
    }
  });

  // --- delivery worker -------------------------------------------------------------------------------------
  const agent = new Agent({ connections: MAX_IN_FLIGHT, keepAliveTimeout: 4_000, connect: { timeout: timeoutMs } });
  const stopCtrl = new AbortController();
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

  function db(): Database.Database {
    return store.db;
  }

  function flushDeletes(): void {
    if (deleteTimer) {
      clearTimeout(deleteTimer);
      deleteTimer = null;
    }
    if (!pendingDeletes.length) return;
    const ids = pendingDeletes;
    pendingDeletes = [];
    try {
      const d = db();
      const del = d.prepare('DELETE FROM webhook_outbox WHERE outbox_id = ?');
      d.transaction((list: number[]) => {
        for (const id of list) del.run(id);
      })(ids);
    } catch (err) {
      // The rows stay and are delivered again after a restart (at-least-once).
      logger.error({ err }, 'could not delete delivered outbox rows');
    }
  }

  function scheduleDelete(id: number): void {
    pendingDeletes.push(id);
    if (pendingDeletes.length >= 256) flushDeletes();
    else if (!deleteTimer) deleteTimer = setTimeout(flushDeletes, 100);
  }

  function updateRow(sql: string, ...args: unknown[]): void {
    try {
      db().prepare(sql).run(...args);
    } catch (err) {
      logger.error({ err }, 'could not update outbox row');
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
      rows = db()
        .prepare(
          "SELECT outbox_id, event_uuid, body, attempts, created_at_us FROM webhook_outbox WHERE state = 'pending' AND outbox_id > ? ORDER BY outbox_id LIMIT ?",
        )
        .all(lastFetchedId, FETCH_PAGE) as OutboxRow[];
    } catch (err) {
      logger.error({ err }, 'could not read the webhook outbox');
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

  function pump(): void {
    if (!started || stopped) return;
    const now = Date.now();
    if (now < pausedUntil) {
      if (!wakeTimer) {
        wakeTimer = setTimeout(() => {
          wakeTimer = null;
          pump();
        }, pausedUntil - now);
        wakeTimer.unref();
      }
      return;
    }
    while (inFlight.size < MAX_IN_FLIGHT && !stopped && Date.now() >= pausedUntil) {
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
    if (Date.now() < pausedUntil && inFlight.size === 0) pump();
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
        delivered.inc();
        pendingCount = Math.max(0, pendingCount - 1);
        metrics.webhookPending.set(pendingCount);
        scheduleDelete(row.outbox_id);
        return;
      case 'dead':
        markDead(row, outcome.error, nowUs);
        return;
      case 'retry': {
        errors.inc();
        row.attempts += 1;
        logFailure(row, outcome.error);
        if (nowUs - row.created_at_us >= DEAD_AFTER_US) {
          markDead(row, `${outcome.error} (24 h without success)`, nowUs);
          return;
        }
        consecutiveFailures += 1;
        const delay = Math.max(backoffMs(consecutiveFailures, initialMs, maxMs), outcome.retryAfterMs ?? 0);
        pausedUntil = Math.max(pausedUntil, nowMs + delay);
        updateRow(
          'UPDATE webhook_outbox SET attempts = ?, next_attempt_us = ?, last_error = ? WHERE outbox_id = ?',
          row.attempts,
          (nowMs + delay) * 1000,
          outcome.error.slice(0, 500),
          row.outbox_id,
        );
        putBack(row);
        return;
      }
    }
  }

  function markDead(row: OutboxRow, error: string, nowUs: number): void {
    errors.inc();
    logFailure(row, error, true);
    updateRow(
      "UPDATE webhook_outbox SET state = 'dead', attempts = ?, dead_at_us = ?, last_error = ? WHERE outbox_id = ?",
      row.attempts + 1,
      nowUs,
      error.slice(0, 500),
      row.outbox_id,
    );
    pendingCount = Math.max(0, pendingCount - 1);
    deadCount += 1;
    metrics.webhookPending.set(pendingCount);
    metrics.webhookDead.set(deadCount);
  }

  function logFailure(row: OutboxRow, error: string, dead = false): void {
    const now = Date.now();
    if (dead) {
      logger.warn({ eventUuid: row.event_uuid, error }, 'webhook entry is dead');
    } else if (now - lastErrorLogged > 10_000) {
      lastErrorLogged = now;
      logger.warn({ eventUuid: row.event_uuid, error, attempts: row.attempts }, 'webhook delivery failed; retrying with backoff');
    }
  }

  function errText(err: unknown): string {
    if (err instanceof Error) {
      const code = (err as { code?: unknown }).code;
      const cause = (err as { cause?: { code?: unknown } }).cause;
      return [err.name, typeof code === 'string' ? code : '', typeof cause?.code === 'string' ? cause.code : '', err.message]
        .filter(Boolean)
        .join(': ');
    }
    return String(err);
  }

  async function post(row: OutboxRow, token: string | null): Promise<{ status: number; retryAfter: string | string[] | undefined }> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': userAgent,
      'x-sipwarden-event-id': row.event_uuid,
    };
    if (init.secret) headers['x-sipwarden-signature'] = webhookSignature(init.secret, row.body, Math.floor(Date.now() / 1000));
    if (token) headers.authorization = `Bearer ${token}`;
    const signal = AbortSignal.any([stopCtrl.signal, AbortSignal.timeout(timeoutMs)]);
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
      // SPEC §12.2: one refresh and one immediate retry, then normal backoff (not dead).
      if (r.status === 401 || r.status === 403) return { kind: 'retry', error: `HTTP ${r.status} after token refresh`, retryAfterMs: null };
    }
    return classify(r.status, r.retryAfter);
  }

  // --- OAuth2 client credentials (SPEC §12.2) -------------------------------------------------------------
  const oauth = init.oauth2 ? createTokenCache(init.oauth2) : null;

  function createTokenCache(cfg: WebhookOAuth2): { get(): Promise<string>; invalidate(token: string): void } {
    let cached: { token: string; expiresAt: number } | null = null;
    let fetching: Promise<string> | null = null;
    async function fetchToken(): Promise<string> {
      const signal = AbortSignal.any([stopCtrl.signal, AbortSignal.timeout(timeoutMs)]);
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
      const d = db();
      d.prepare("DELETE FROM webhook_outbox WHERE state = 'dead' AND dead_at_us < ?").run((Date.now() * 1000) - DEAD_KEEP_US);
      const counts = d
        .prepare("SELECT SUM(state = 'pending') AS pending, SUM(state = 'dead') AS dead FROM webhook_outbox")
        .get() as { pending: number | null; dead: number | null };
      pendingCount = Math.max(0, (counts.pending ?? 0) - pendingDeletes.length);
      deadCount = counts.dead ?? 0;
      metrics.webhookPending.set(pendingCount);
      metrics.webhookDead.set(deadCount);
    } catch (err) {
      logger.error({ err }, 'webhook outbox maintenance failed');
    }
  }

  return {
    name: SINK,
    async start() {
      if (started) return;
      started = true;
      stopped = false;
      maintenance();
      maintTimer = setInterval(maintenance, MAINTENANCE_MS);
      maintTimer.unref();
      needReset = true;
      pausedUntil = 0; // after a restart, try at once: the outage may be over
      pump();
    },
    /** No-op by design: outbox rows are written by the store's batch hook in the event's own transaction. */
    offer() {},
    async stop() {
      if (stopped) return;
      stopped = true;
      if (wakeTimer) clearTimeout(wakeTimer);
      if (maintTimer) clearInterval(maintTimer);
      wakeTimer = maintTimer = null;
      if (inFlight.size) {
        const grace = new Promise<void>((r) => setTimeout(r, STOP_GRACE_MS).unref());
        await Promise.race([Promise.allSettled([...inFlight.values()]), grace]);
        stopCtrl.abort();
        await Promise.allSettled([...inFlight.values()]);
      }
      stopCtrl.abort();
      flushDeletes();
      await agent.destroy().catch(() => undefined);
    },
  };
}
