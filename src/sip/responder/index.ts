/**
 * The profile responder: PBX-like conversations with digest challenges and decoy extensions,
 * server transactions (same reply to retransmissions, RFC 3261 §17.2.1 Timer G resends of non-2xx INVITE
 * finals over UDP), a per-source reply cap, and UDP source verification by echoed nonce or To-tag.
 */
import { createHash, createHmac, randomFillSync } from 'node:crypto';
import type { ProfileName } from '../../config/types.js';
import { ConfigError } from '../../errors.js';
import { escapeAttackerText, type Logger } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import { hashBegin, hashEnd, hashMix } from '../key-hash.js';
import { parseNameAddr, parseUri, topViaBranch } from '../wire/headers.js';
import type { SipRequest } from '../wire/types.js';
import { parseDecoyExtensions, type DecoySet } from './decoys.js';
import { digestMatches, parseAuthHeader, type ParsedAuthHeader } from './digest.js';
import { buildResponse, largeEcho, responseBase, responseByteLength, viewRequest, type RequestView, type ResponseBase, type ResponseSpec } from './message.js';
import {
  ALLOWED_METHODS,
  CAPABILITIES,
  PROFILE_DEFS,
  SENTRYPEER_CLASSIC_REPLY,
  type ProfileDef,
} from './profiles.js';
import { createReplyLimiter } from './rate.js';
import type { InboundRequest, ReplyChannel, Responder, ResponderOutcome } from './types.js';

export { parseDecoyExtensions } from './decoys.js';
export { extractCredentials } from './credentials.js';
export { SENTRYPEER_CLASSIC_REPLY } from './profiles.js';

/** Inputs of {@link createResponder}: the responsive-mode slice of the configuration plus shared services. */
export interface ResponderInit {
  profile: ProfileName;
  /** `--decoy-extensions`, e.g. `100-199,2000,alice`. */
  decoyExtensions: string;
  decoyPassword: string | null;
  /** Required for the `redirect` profile. */
  redirectUri: string | null;
  /** Overrides the profile's `Server` value. */
  serverHeader: string | null;
  /** Replies per second per source IP; 0 or less = no cap. */
  replyRateLimit: number;
  /**
   * Reply bytes an unverified UDP source may receive per byte it sent (default 3); 0 or less = no bound (unit
   * tests of the RFC 3261 conversations use that).
   */
  reflectionFactor?: number;
  metrics: Metrics;
  logger: Logger;
  /** Clock in epoch milliseconds (tests). */
  now?: () => number;
}

/** RFC 3261 T1 and T2: Timer G starts at T1 and doubles up to T2. */
const T1_MS = 500;
const T2_MS = 4000;
/** 64·T1: transaction lifetime, retransmission window and Timer H. */
const TX_LIFETIME_MS = 32_000;
/** Largest UDP payload over IPv4 (65,535 − 8 UDP − 20 IP header bytes): a bigger reply cannot be sent. */
const MAX_UDP_PAYLOAD = 65_507;
/** Transactions kept. */
const MAX_TRANSACTIONS = 10_000;
/** Sent To-tags remembered per source IP for verification, and for how long. */
const TAGS_PER_SOURCE = 16;
const MAX_TAG_SOURCES = 65_536;
const TAG_TTL_MS = 10 * 60_000;
/** Nonces we issued are accepted as proof of address for this long. */
const NONCE_TTL_S = 3600;
/**
 * Reflection bound: an unverified UDP source gets at most this many reply bytes per byte it sent (provisional,
 * final and retransmitted replies together). Its credit lapses after a transaction lifetime without requests.
 */
const DEFAULT_REFLECTION_FACTOR = 3;
/** Sources whose credit or verification is remembered (least recently seen dropped first). */
const MAX_BUDGET_SOURCES = 65_536;

interface Transaction {
  key: string;
  /** Secondary key (source + Call-ID + CSeq number) for INVITEs: finds them from ACK/CANCEL with a new branch. */
  callKey: string | null;
  /** Hash of Call-ID and CSeq: a number, so a remembered transaction keeps no message text alive. */
  match: number;
  method: string;
  toTag: string;
  /** What responses copy from the request; released once a non-INVITE transaction has its final. */
  base: ResponseBase | null;
  reply: ReplyChannel;
  transport: InboundRequest['transport'];
  ip: string;
  /** Bytes of the last response sent (what a retransmission gets). */
  last: Buffer | null;
  lastStatus: number;
  /** Final status sent or scheduled. */
  final: number | null;
  expiresAt: number;
  /** A final scheduled for later (INVITE after credentials), cancellable by CANCEL. */
  pending: { timer: NodeJS.Timeout; status: number; spec: ResponseSpec } | null;
  /** Timer G (UDP non-2xx INVITE final resends). */
  resend: NodeJS.Timeout | null;
}

/** Small pool of random bytes, refilled in bulk (one syscall per 4 KiB instead of per tag). */
function createRandomHex(): (bytes: number) => string {
  const pool = Buffer.alloc(4096);
  let off = pool.length;
  return (bytes) => {
    if (off + bytes > pool.length) {
      randomFillSync(pool);
      off = 0;
    }
    const s = pool.toString('hex', off, off + bytes);
    off += bytes;
    return s;
  };
}

/** Keys up to this length are used as they are; longer ones by digest (see {@link tableKey}). */
const MAX_PLAIN_KEY = 512;

/**
 * A transaction-table key from parts that include attacker text (branch, Call-ID, CSeq, method). V8 hashes a
 * string longer than 16,383 characters by its length alone, so a flood of equally long keys would put every entry
 * in one hash bucket and make each lookup a scan of the table (seconds per packet). Long keys are therefore
 * replaced by a SHA-256 digest plus their length: fixed size, no collisions in practice.
 */
function tableKey(...parts: string[]): string {
  const k = parts.join('|');
  return k.length <= MAX_PLAIN_KEY ? k : `#${createHash('sha256').update(k).digest('base64')}:${k.length}`;
}

function cseqNumber(cseq: string): string {
  const m = /^\s*(\d+)/.exec(cseq);
  return m ? m[1]! : cseq.trim();
}

/**
 * Creates the responder for a profile. Throws ConfigError for an unusable decoy list or a `redirect` profile
 * without `--redirect-uri`; `handle` itself never throws.
 */
export function createResponder(init: ResponderInit): Responder {
  const now = init.now ?? Date.now;
  const { metrics, logger } = init;
  const classic = init.profile === 'sentrypeer-classic';
  const def: ProfileDef | null = classic ? null : PROFILE_DEFS[init.profile as Exclude<ProfileName, 'sentrypeer-classic'>];
  if (!classic && def === undefined) throw new ConfigError('--responsive-profile', `unknown profile "${init.profile}"`);
  const decoys: DecoySet = parseDecoyExtensions(init.decoyExtensions);
  let redirectContact: string | null = null;
  if (init.profile === 'redirect') {
    const u = init.redirectUri?.trim() ?? '';
    if (u.length === 0 || /[\r\n\0]/.test(u)) {
      throw new ConfigError('--redirect-uri', 'a destination URI is required with --responsive-profile redirect');
    }
    redirectContact = u.startsWith('<') ? u : `<${u}>`;
  }
  const server = (init.serverHeader ?? def?.server ?? '').replace(/[\r\n\0]/g, ' ');
  const limiter = createReplyLimiter(init.replyRateLimit);
  const randomHex = createRandomHex();
  const secret = Buffer.alloc(32);
  randomFillSync(secret);

  const txs = new Map<string, Transaction>();
  const byCall = new Map<string, Transaction>();
  const sentTags = new Map<string, { tags: string[]; at: number }>();
  /** Reply credit (bytes) of unverified UDP sources, by IP. */
  const credit = new Map<string, { bytes: number; at: number }>();
  /** UDP sources that proved their address (echoed our To-tag or nonce), by IP: no reflection bound. */
  const verifiedSources = new Map<string, number>();
  const reflectionFactor = init.reflectionFactor ?? DEFAULT_REFLECTION_FACTOR;
  let housekeeping: NodeJS.Timeout | null = null;
  let stopped = false;

  // ---- sending -------------------------------------------------------------------------------------------

  // Hot-path children cached per label set (see Metrics.hotCounter).
  const replyCounters = new Map<string, { inc(): void }>();
  function replyCounter(transport: string, status: number): { inc(): void } {
    const k = `${transport}|${status}`;
    let c = replyCounters.get(k);
    if (c === undefined) {
      c = metrics.hotCounter(metrics.sipReplies, { transport: transport.toLowerCase(), status: String(status) });
      replyCounters.set(k, c);
    }
    return c;
  }

  // ---- reflection bound (unverified UDP sources) ----------------------------------------------------------

  function touch<V>(map: Map<string, V>, key: string, value: V): void {
    if (map.size >= MAX_BUDGET_SOURCES) {
      let n = Math.floor(MAX_BUDGET_SOURCES / 10);
      for (const k of map.keys()) {
        if (n-- <= 0) break;
        map.delete(k);
      }
    }
    map.set(key, value);
  }

  /** True when replies to this UDP source are bounded (it has not proved its address within the tag lifetime). */
  function bounded(transport: string, ip: string): boolean {
    if (transport !== 'UDP' || reflectionFactor <= 0) return false;
    const at = verifiedSources.get(ip);
    return at === undefined || now() - at > TAG_TTL_MS;
  }

  /** A UDP request earns its source `reflectionFactor` × its size in reply bytes. */
  function earn(ip: string, requestBytes: number): void {
    const t = now();
    const e = credit.get(ip);
    if (e !== undefined) {
      // Updated in place (the hot path: no re-insertion); the sweep drops lapsed entries by age.
      e.bytes = (t - e.at <= TX_LIFETIME_MS ? e.bytes : 0) + reflectionFactor * requestBytes;
      e.at = t;
      return;
    }
    touch(credit, ip, { bytes: reflectionFactor * requestBytes, at: t });
  }

  /** True when `bytes` more reply bytes fit the source's bound (always true for verified and stream sources). */
  function affordable(transport: string, ip: string, bytes: number): boolean {
    if (!bounded(transport, ip)) return true;
    const e = credit.get(ip);
    return e !== undefined && now() - e.at <= TX_LIFETIME_MS && e.bytes >= bytes;
  }

  /** Why a reply was not sent: the per-source rate cap, the reflection bound, or a closed channel. */
  type Withheld = 'sent' | 'rate' | 'budget' | 'closed';

  /** Sends one datagram/message under the per-source cap and the reflection bound; counts it. */
  function emit(reply: ReplyChannel, transport: string, ip: string, bytes: Buffer, status: number): boolean {
    return send(reply, transport, ip, bytes, status) === 'sent';
  }

  function send(reply: ReplyChannel, transport: string, ip: string, bytes: Buffer, status: number): Withheld {
    if (!reply.open || stopped) return 'closed';
    if (!affordable(transport, ip, bytes.length)) {
      metrics.sipRepliesBudgeted.inc();
      return 'budget';
    }
    if (!limiter.tryTake(ip, now())) {
      metrics.sipRepliesSuppressed.inc();
      return 'rate';
    }
    if (bounded(transport, ip)) credit.get(ip)!.bytes -= bytes.length;
    reply.send(bytes);
    replyCounter(transport, status).inc();
    return 'sent';
  }

  function rememberTag(ip: string, tag: string): void {
    let e = sentTags.get(ip);
    if (e === undefined) {
      if (sentTags.size >= MAX_TAG_SOURCES) {
        let n = Math.floor(MAX_TAG_SOURCES / 10);
        for (const k of sentTags.keys()) {
          if (n-- <= 0) break;
          sentTags.delete(k);
        }
      }
      e = { tags: [], at: 0 };
    } else {
      sentTags.delete(ip); // re-insert: the map's order is least recently used first
    }
    if (!e.tags.includes(tag)) {
      e.tags.push(tag);
      if (e.tags.length > TAGS_PER_SOURCE) e.tags.shift();
    }
    e.at = now();
    sentTags.set(ip, e);
  }

  /** Responses built for a size check are kept for sending (a 64 KiB request's echo is costly to build twice). */
  const built = new WeakMap<ResponseSpec, Buffer>();
  function build(base: ResponseBase, spec: ResponseSpec): Buffer {
    let b = built.get(spec);
    if (b === undefined) {
      b = buildResponse(base, spec);
      built.set(spec, b);
    }
    return b;
  }

  /** A reply's byte length: measured without building for a large echo, else built (and kept for sending). */
  function replyLength(base: ResponseBase, spec: ResponseSpec): number {
    return largeEcho(base) ? responseByteLength(base, spec) : build(base, spec).length;
  }

  /** Sends a response of a transaction and records it as the one a retransmission gets. */
  function sendTx(tx: Transaction, spec: ResponseSpec): boolean {
    const base = tx.base;
    if (base === null) return false;
    if (tx.transport === 'UDP' && replyLength(base, spec) > MAX_UDP_PAYLOAD) {
      // A datagram cannot carry it (the echo of an oversized request): never serialised, never sent.
      metrics.sipRepliesOversize.inc();
      return false;
    }
    const bytes = build(base, spec);
    tx.last = bytes;
    tx.lastStatus = spec.status;
    const ok = emit(tx.reply, tx.transport, tx.ip, bytes, spec.status);
    if (ok && spec.toTag !== null && !base.toHasTag && tx.transport === 'UDP') rememberTag(tx.ip, spec.toTag);
    return ok;
  }

  /** RFC 3261 §17.2.1: resend a non-2xx INVITE final at T1, 2·T1, … capped at T2, until ACK or Timer H. */
  function startResend(tx: Transaction): void {
    if (tx.transport !== 'UDP' || tx.method !== 'INVITE') return;
    const started = now();
    tx.expiresAt = Math.max(tx.expiresAt, started + TX_LIFETIME_MS);
    let interval = T1_MS;
    const arm = (): void => {
      tx.resend = setTimeout(() => {
        tx.resend = null;
        if (stopped || tx.last === null) return;
        // An unverified source that has stopped sending has no credit left: retransmitting ends here (this is
        // what a scanner that never ACKs gets), well within Timer H; a real UAC ACKs or retransmits its INVITE.
        if (send(tx.reply, tx.transport, tx.ip, tx.last, tx.lastStatus) === 'budget') return;
        interval = Math.min(interval * 2, T2_MS);
        if (now() + interval - started < TX_LIFETIME_MS) arm();
      }, interval);
      tx.resend.unref();
    };
    arm();
  }

  /** True when all these responses of the transaction still fit the reflection bound (built only when bounded). */
  function fitAll(tx: Transaction, ...specs: ResponseSpec[]): boolean {
    if (!bounded(tx.transport, tx.ip)) return true;
    let total = 0;
    for (const sp of specs) total += tx.base === null ? 0 : replyLength(tx.base, sp);
    return affordable(tx.transport, tx.ip, total);
  }

  function sendFinal(tx: Transaction, spec: ResponseSpec): boolean {
    tx.final = spec.status;
    const ok = sendTx(tx, spec);
    if (spec.status >= 300) startResend(tx);
    // A non-INVITE transaction sends nothing new after its final (a retransmission gets `last`): drop the
    // request's header strings now rather than keep them for the transaction's 32 s.
    if (tx.method !== 'INVITE') tx.base = null;
    return ok;
  }

  // ---- transaction table ---------------------------------------------------------------------------------

  function dropTx(tx: Transaction): void {
    if (tx.pending) clearTimeout(tx.pending.timer);
    if (tx.resend) clearTimeout(tx.resend);
    tx.pending = null;
    tx.resend = null;
    if (txs.get(tx.key) === tx) txs.delete(tx.key);
    if (tx.callKey !== null && byCall.get(tx.callKey) === tx) byCall.delete(tx.callKey);
  }

  function addTx(tx: Transaction): void {
    const old = txs.get(tx.key);
    if (old) dropTx(old);
    txs.set(tx.key, tx);
    if (tx.callKey !== null) byCall.set(tx.callKey, tx);
    if (txs.size > MAX_TRANSACTIONS) {
      // Evict the least recently used tenth in one pass: taking one entry from the front of a Map per insert
      // re-skips every deleted slot each time (V8 compacts only on rehash), which is quadratic under a flood.
      let n = txs.size - MAX_TRANSACTIONS + Math.floor(MAX_TRANSACTIONS / 10);
      for (const tx of txs.values()) {
        if (n-- <= 0) break;
        dropTx(tx);
      }
    }
  }

  function sweep(): void {
    const t = now();
    for (const tx of txs.values()) if (t >= tx.expiresAt && tx.pending === null && tx.resend === null) dropTx(tx);
    for (const [ip, e] of sentTags) if (t - e.at > TAG_TTL_MS) sentTags.delete(ip);
    for (const [ip, e] of credit) if (t - e.at > TX_LIFETIME_MS) credit.delete(ip);
    for (const [ip, at] of verifiedSources) if (t - at > TAG_TTL_MS) verifiedSources.delete(ip);
    limiter.sweep(t);
  }

  // ---- source verification -------------------------------------------------------------------

  function nonceMac(secs: string, rnd: string, ip: string): string {
    return createHmac('sha256', secret).update(`${secs}/${rnd}|${ip}`).digest('hex').slice(0, 20);
  }

  /** `<unix-seconds>/<32 hex>`: 12 random hex + 20 hex of an HMAC binding it to the source IP (stateless check). */
  function newNonce(ip: string): string {
    const secs = String(Math.floor(now() / 1000));
    const rnd = randomHex(6);
    return `${secs}/${rnd}${nonceMac(secs, rnd, ip)}`;
  }

  function nonceIsOurs(nonce: string, ip: string): boolean {
    const m = /^(\d{1,12})\/([0-9a-f]{12})([0-9a-f]{20})$/.exec(nonce);
    if (!m) return false;
    const age = Math.floor(now() / 1000) - Number(m[1]);
    if (age < -60 || age > NONCE_TTL_S) return false;
    return nonceMac(m[1]!, m[2]!, ip) === m[3];
  }

  function isVerified(view: RequestView, auth: ParsedAuthHeader | null, ip: string): boolean {
    if (auth !== null) {
      const nonce = auth.params.get('nonce');
      if (nonce !== undefined && nonceIsOurs(nonce, ip)) return true;
    }
    const e = sentTags.get(ip);
    if (e !== undefined && now() - e.at <= TAG_TTL_MS) {
      const to = view.to;
      const tag = to === null || !/tag/i.test(to) ? undefined : parseNameAddr(to)?.params.get('tag');
      if (tag !== undefined && e.tags.includes(tag)) return true;
    }
    return false;
  }

  // ---- conversations -------------------------------------------------------------------------------------

  function challengeHeader(status: 401 | 407, realm: string, ip: string): readonly [string, string] {
    const value = `Digest algorithm=MD5,realm="${realm}",nonce="${newNonce(ip)}",opaque="${randomHex(8)}",qop="auth"`;
    return [status === 407 ? 'Proxy-Authenticate' : 'WWW-Authenticate', value];
  }

  function realmFor(p: ProfileDef, req: InboundRequest): string {
    return p.realm.kind === 'destination' ? req.local.ip : p.realm.value;
  }

  /** The user a REGISTER/SUBSCRIBE is about: the To user, else the Request-URI user. */
  function targetUser(msg: SipRequest, view: RequestView): string | null {
    const to = view.to;
    const toUri = to === null ? null : parseNameAddr(to)?.uri;
    const u = toUri ? parseUri(toUri)?.user ?? null : null;
    return u ?? parseUri(msg.requestUri)?.user ?? null;
  }

  function registerOk(msg: SipRequest, auth: ParsedAuthHeader | null): boolean {
    if (init.decoyPassword === null || auth === null || auth.scheme.toLowerCase() !== 'digest') return false;
    const g = (k: string): string | null => auth.params.get(k) ?? null;
    const [username, realm, nonce, uri, response] = [g('username'), g('realm'), g('nonce'), g('uri'), g('response')];
    if (username === null || realm === null || nonce === null || uri === null || response === null) return false;
    return digestMatches(
      { username, realm, nonce, uri, response, method: msg.method, nc: g('nc'), cnonce: g('cnonce'), qop: g('qop') },
      init.decoyPassword,
    );
  }

  function findInvite(req: InboundRequest, srcKey: string, branch: string | null, callId: string, cseq: string): Transaction | undefined {
    const byBranch = branch !== null ? txs.get(tableKey(srcKey, branch, 'INVITE')) : undefined;
    const tx = byBranch ?? byCall.get(tableKey(srcKey, callId, cseqNumber(cseq)));
    return tx !== undefined && tx.method === 'INVITE' ? tx : undefined;
  }

  function handleProfile(p: ProfileDef, req: InboundRequest, reply: ReplyChannel): ResponderOutcome {
    const { msg, source, transport } = req;
    const view = viewRequest(msg);
    const authValue = view.authorization ?? view.proxyAuthorization;
    const auth = authValue === null ? null : parseAuthHeader(authValue);
    const sourceVerified = transport !== 'UDP' || isVerified(view, auth, source.ip);
    if (transport === 'UDP') {
      if (sourceVerified) {
        if (verifiedSources.has(source.ip)) verifiedSources.set(source.ip, now());
        else touch(verifiedSources, source.ip, now());
      }
      else earn(source.ip, msg.raw.length);
    }
    const method = msg.method;
    const srcKey = `${transport}|${source.ip}|${source.port}`;
    // The wire layer's single-pass branch reader: same answer as parsing the whole top Via, at a fraction of the cost.
    const branch = view.vias.length > 0 ? topViaBranch(view.vias[0]!) : null;
    const callId = view.callId ?? '';
    const cseq = view.cseq ?? '';

    // ACK is absorbed: it ends Timer G of the INVITE it acknowledges and is never answered.
    if (method === 'ACK') {
      const inv = findInvite(req, srcKey, branch, callId, cseq);
      if (inv?.resend) {
        clearTimeout(inv.resend);
        inv.resend = null;
      }
      return { responseCode: null, sourceVerified };
    }

    const key = branch !== null ? tableKey(srcKey, branch, method) : tableKey(srcKey, `nobranch:${callId}`, cseq, method);
    hashBegin();
    hashMix(callId);
    hashMix(cseq);
    const match = hashEnd();
    const existing = txs.get(key);
    if (existing !== undefined && existing.match === match && now() < existing.expiresAt) {
      // Retransmission: the same bytes again (RFC 3261 §17.2: the most recent response).
      txs.delete(key);
      txs.set(key, existing);
      if (existing.last !== null) emit(reply.open ? reply : existing.reply, transport, source.ip, existing.last, existing.lastStatus);
      return { responseCode: existing.final, sourceVerified };
    }

    const base = responseBase(view, source.ip, source.port);
    if (base === null) return { responseCode: null, sourceVerified };
    const tx: Transaction = {
      key,
      callKey: method === 'INVITE' ? tableKey(srcKey, callId, cseqNumber(cseq)) : null,
      match,
      method,
      toTag: randomHex(5),
      base,
      reply,
      transport,
      ip: source.ip,
      last: null,
      lastStatus: 0,
      final: null,
      expiresAt: now() + TX_LIFETIME_MS,
      pending: null,
      resend: null,
    };
    addTx(tx);
    const spec = (status: number, extra?: ResponseSpec['extra'], capabilities?: ResponseSpec['capabilities']): ResponseSpec => ({
      status,
      toTag: status === 100 ? null : tx.toTag,
      extra,
      capabilities,
      server,
    });
    // A final that the cap suppressed is still "scheduled" when Timer G will resend it (UDP INVITE non-2xx).
    const final = (s: ResponseSpec): ResponderOutcome => {
      const sent = sendFinal(tx, s);
      return { responseCode: sent || tx.resend !== null ? s.status : null, sourceVerified };
    };
    const hasCreds = authValue !== null;

    switch (method) {
      case 'OPTIONS': {
        // The capability headers are most of the 200's size: a small unverified probe gets the 200 without them.
        const full = spec(200, undefined, CAPABILITIES);
        return final(fitAll(tx, full) ? full : spec(200));
      }
      case 'REGISTER':
      case 'SUBSCRIBE': {
        if (p.register === 'reject' || !decoys.has(targetUser(msg, view))) return final(spec(404));
        if (!hasCreds) return final(spec(401, [challengeHeader(401, realmFor(p, req), source.ip)]));
        if (method === 'REGISTER' && registerOk(msg, auth)) {
          const extra: Array<[string, string]> = [];
          for (const c of view.contacts) if (!/[\r\n\0]/.test(c)) extra.push(['Contact', c]);
          const exp = view.expires;
          extra.push(['Expires', exp !== null && /^\s*\d{1,10}\s*$/.test(exp) ? exp.trim() : '3600']);
          return final(spec(200, extra));
        }
        return final(spec(403));
      }
      case 'INVITE': {
        if (p.invite.kind === 'reject') return final(spec(404));
        if (p.invite.kind === 'redirect') return final(spec(302, [['Contact', redirectContact!]]));
        // Under the reflection bound the final has first call on the credit: a provisional goes out only when it
        // and everything after it still fit (a 206-byte INVITE gets its 401 and no `100 Trying`).
        const trying = spec(100);
        if (!hasCreds) {
          const st = p.invite.status;
          const challenge = spec(st, [challengeHeader(st, realmFor(p, req), source.ip)]);
          if (fitAll(tx, trying, challenge)) sendTx(tx, trying);
          return final(challenge);
        }
        // Credentials: ring (or session progress), then the profile's final after a pause, like a busy callee.
        const ringing = spec(p.afterCredentials.provisional);
        const finalSpec = spec(p.afterCredentials.final);
        if (fitAll(tx, trying, ringing, finalSpec)) sendTx(tx, trying);
        if (fitAll(tx, ringing, finalSpec)) sendTx(tx, ringing);
        tx.final = finalSpec.status;
        const timer = setTimeout(() => {
          tx.pending = null;
          if (!stopped) sendFinal(tx, finalSpec);
        }, p.afterCredentials.delayMs);
        timer.unref();
        tx.pending = { timer, status: finalSpec.status, spec: finalSpec };
        tx.expiresAt = now() + p.afterCredentials.delayMs + TX_LIFETIME_MS;
        return { responseCode: finalSpec.status, sourceVerified };
      }
      case 'CANCEL': {
        if (p.others === 'minimal') return final(spec(501));
        const inv = findInvite(req, srcKey, branch, callId, cseq);
        // RFC 3261 §9.2: the CANCEL's 200 carries the INVITE response's To-tag; then the INVITE gets 487.
        if (inv !== undefined) tx.toTag = inv.toTag;
        const out = final(spec(200));
        if (inv?.pending) {
          clearTimeout(inv.pending.timer);
          inv.pending = null;
          sendFinal(inv, { status: 487, toTag: inv.toTag, server });
        }
        return out;
      }
      case 'BYE':
        return final(spec(p.others === 'minimal' ? 501 : 200));
      default:
        return final(spec(p.others === 'rfc' && ALLOWED_METHODS.has(method) ? 200 : 501));
    }
  }

  function handleClassic(req: InboundRequest, reply: ReplyChannel): ResponderOutcome {
    // No state, so no verification: every UDP source is bounded (a datagram under 244 bytes gets no reply).
    if (req.transport === 'UDP') earn(req.source.ip, req.msg.raw.length);
    const sent = emit(reply, req.transport, req.source.ip, SENTRYPEER_CLASSIC_REPLY, 200);
    return { responseCode: sent ? 200 : null, sourceVerified: req.transport !== 'UDP' };
  }

  return {
    async start() {
      stopped = false;
      if (housekeeping === null) {
        housekeeping = setInterval(sweep, 5000);
        housekeeping.unref();
      }
    },
    async stop() {
      stopped = true;
      if (housekeeping !== null) clearInterval(housekeeping);
      housekeeping = null;
      for (const tx of [...txs.values()]) dropTx(tx);
      txs.clear();
      byCall.clear();
      sentTags.clear();
      credit.clear();
      verifiedSources.clear();
    },
    handle(req, reply) {
      try {
        if (classic) return handleClassic(req, reply);
        return handleProfile(def!, req, reply);
      } catch (err) {
        metrics.internalErrors.inc({ component: 'responder' });
        logger.error(
          { err: err instanceof Error ? escapeAttackerText(err.message) : 'unknown', method: escapeAttackerText(String(req?.msg?.method)) },
          'responder failed for one request',
        );
        return { responseCode: null, sourceVerified: false };
      }
    },
  };
}
