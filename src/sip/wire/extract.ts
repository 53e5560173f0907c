/**
 * Event fields from a parsed request (the event fields and the fixture README's extraction rules).
 */
import { escapeAttackerText } from '../../log.js';
import { getHeader, nameAddrUri, topViaBranch, uriUser, type SipUri } from './headers.js';
import { numberLikeDigits, toE164 } from '../../net/numbers.js';
import type { ExtractedFields, SipRequest } from './types.js';

/** Sentinel stored when a user agent or called number is absent (SentryPeer's value). */
export const NOT_FOUND = 'NOT_FOUND';

/**
 * Raw userinfo for `called_number`: as written (percent-encoding and `;params` kept), with a deprecated
 * `:password` removed so a credential never lands in a shared field.
 */
function rawUserForCalledNumber(u: Pick<SipUri, 'scheme' | 'userinfo' | 'user'>): string | null {
  const ui = u.userinfo;
  if (ui === null || u.user === null) return null;
  if (u.scheme === 'tel') return ui;
  const colon = ui.indexOf(':');
  if (colon === -1) return ui;
  const semi = ui.indexOf(';');
  if (semi !== -1 && semi < colon) return ui;
  return ui.slice(0, colon) + (semi === -1 ? '' : ui.slice(semi));
}

/** Escaped stored user agent: `NOT_FOUND` when missing or blank. */
export function storedUserAgent(raw: string | null): string {
  if (raw === null || raw.trim().length === 0) return NOT_FOUND;
  return escapeAttackerText(raw);
}

/** Extracts the event fields from a request. Total: never throws on odd header contents. */
export function extractFields(msg: Pick<SipRequest, 'requestUri' | 'headers'>): ExtractedFields {
  const ruri = uriUser(msg.requestUri);
  const toValue = getHeader(msg, 'to');
  const toUriText = toValue === null ? null : nameAddrUri(toValue);
  const toUri = toUriText === null ? null : uriUser(toUriText);

  // Percent-decoding can produce any character (`%0d`, `%1b`, `%e2%80%ae`): stored escaped, like the user agent.
  const requestUriUser = ruri?.user == null ? null : escapeAttackerText(ruri.user);
  const toUser = toUri?.user == null ? null : escapeAttackerText(toUri.user);

  // R-URI user if number-like, else the To user, else NOT_FOUND — stored raw.
  let calledNumber = NOT_FOUND;
  const ruriRaw = ruri === null ? null : rawUserForCalledNumber(ruri);
  const d = ruriRaw === null ? null : numberLikeDigits(ruriRaw);
  if (ruriRaw !== null && d !== null && /^\+?[0-9]{1,32}$/.test(d)) calledNumber = ruriRaw;
  else {
    const toRaw = toUri === null ? null : rawUserForCalledNumber(toUri);
    if (toRaw !== null && toRaw.length > 0) calledNumber = toRaw;
  }

  const callIdRaw = getHeader(msg, 'call-id');
  const cseqRaw = getHeader(msg, 'cseq');
  const viaRaw = getHeader(msg, 'via');
  const branch = viaRaw === null ? null : topViaBranch(viaRaw);

  return {
    requestUriUser,
    toUser,
    calledNumber,
    calledNumberE164: toE164(calledNumber),
    userAgent: storedUserAgent(getHeader(msg, 'user-agent')),
    callId: callIdRaw !== null && callIdRaw.length > 0 ? callIdRaw : null,
    topViaBranch: branch !== null && branch.length > 0 ? branch : null,
    cseq: cseqRaw !== null && cseqRaw.length > 0 ? cseqRaw : null,
  };
}
