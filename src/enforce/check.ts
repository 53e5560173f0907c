/**
 * `/api/v1/check`: the call-check a PBX or SIP proxy asks before routing a call. The verdict applies the block
 * policy (the firewall enforcer's) to the aggregates of the source address and of the called number; no `honey`
 * row is read, so an answer costs two or three primary-key lookups.
 */
import {
  decideIp, decideNumber, emptyIpFacts, type BlockPolicy, type Exclusions,
} from './policy.js';
import { toE164 } from '../net/numbers.js';
import type { BlockFactsReader } from '../store/block-facts.js';
import { rfc3339 } from '../text/time.js';

/** Validated input: a normalised IP and/or a called number (`+?digits`). */
export interface CheckQuery {
  ip?: string;
  number?: string;
}

/** The JSON answer. */
export interface CheckAnswer {
  verdict: 'block' | 'allow';
  /** `ip:<why>` / `number:<why>` codes; a `…:qualifies` code is what makes the verdict block. */
  reasons: string[];
  ip?: {
    address: string;
    first_seen: string | null;
    last_seen: string | null;
    hits: number;
    verified_hits: number;
    verified: boolean;
    seen_by_peers: boolean;
    /** Why this address is never blocked, or null. */
    excluded: string | null;
    blocked_until: string | null;
  };
  number?: {
    number: string;
    e164: string | null;
    hits: number;
    distinct_sources: number;
    verified_sources: number;
    first_seen: string | null;
    last_seen: string | null;
    blocked_until: string | null;
  };
}

/** Keys a called number may be stored under (see the store's number key): E.164 form, raw text, `+` + raw. */
export function numberKeys(n: string): string[] {
  const keys = new Set<string>();
  const e = toE164(n);
  if (e !== null) keys.add(e);
  keys.add(n);
  if (!n.startsWith('+')) keys.add('+' + n);
  return [...keys];
}

/** Builds the answer from the facts (pure apart from the reads through `facts`). */
export function checkAnswer(q: CheckQuery, facts: BlockFactsReader, exclusions: Exclusions, policy: BlockPolicy, nowUs: number): CheckAnswer {
  const reasons: string[] = [];
  let block = false;
  const out: CheckAnswer = { verdict: 'allow', reasons };
  if (q.ip !== undefined) {
    const rec = facts.ip(q.ip);
    const f = rec?.facts ?? emptyIpFacts();
    const excluded = exclusions.reason(q.ip);
    const d = decideIp(f, policy, nowUs);
    if (excluded !== null) reasons.push(`ip:excluded:${excluded}`);
    else if (rec === null) reasons.push('ip:unknown');
    else {
      reasons.push(`ip:${d.reason}`);
      if (d.qualifies) block = true;
    }
    out.ip = {
      address: q.ip,
      first_seen: rec ? rfc3339(rec.firstSeenUs) : null,
      last_seen: rec ? rfc3339(rec.lastSeenUs) : null,
      hits: rec?.eventCount ?? 0,
      verified_hits: f.local.verifiedHits + f.peer.verifiedHits,
      verified: rec?.verified ?? false,
      seen_by_peers: f.peer.hits > 0,
      excluded,
      blocked_until: excluded === null && d.qualifies && d.expiresUs !== null ? rfc3339(d.expiresUs) : null,
    };
  }
  if (q.number !== undefined) {
    const rec = facts.number(numberKeys(q.number));
    const nf = rec?.facts ?? { hits: 0, sources: 0, verifiedSources: 0, lastUs: 0 };
    const d = decideNumber(nf, policy, nowUs);
    if (rec === null) reasons.push('number:unknown');
    else {
      reasons.push(`number:${d.reason === 'below-min-hits' ? 'below-min-sources' : d.reason}`);
      if (d.qualifies) block = true;
    }
    out.number = {
      number: q.number,
      e164: toE164(q.number),
      hits: nf.hits,
      distinct_sources: nf.sources,
      verified_sources: nf.verifiedSources,
      first_seen: rec ? rfc3339(rec.firstSeenUs) : null,
      last_seen: rec ? rfc3339(nf.lastUs) : null,
      blocked_until: d.qualifies && d.expiresUs !== null ? rfc3339(d.expiresUs) : null,
    };
  }
  out.verdict = block ? 'block' : 'allow';
  return out;
}
