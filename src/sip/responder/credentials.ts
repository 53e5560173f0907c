/**
 * Credential capture, in every mode: digest parameters from `Authorization` (else
 * `Proxy-Authorization`), plus the clear-text password sipvicious' svcrack hides in the From tag, verified
 * against the digest response. Pure; never throws.
 */
import type { CapturedAuth } from '../../events/event.js';
import { getHeader, parseNameAddr } from '../wire/headers.js';
import type { SipRequest } from '../wire/types.js';
import type { CredentialExtractor } from './types.js';
import { digestMatches, parseAuthHeader } from './digest.js';

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });

/** A user/password pair recovered from a sipvicious-style From tag. */
export interface SipviciousCredential {
  username: string;
  password: string;
}

/**
 * Decodes svcrack's From tag: even-length hex of `<utf-8 text containing ':'>` + one 0x01 byte + 1–10 ASCII
 * digits to the end; the text splits at its first `:`. Anything looser misfires on ordinary hex tags (sipsak's,
 * svwar's `hex(extension)\x01digits`). Null when the tag does not have exactly that form.
 */
export function decodeSipviciousTag(tag: string): SipviciousCredential | null {
  if (tag.length < 6 || tag.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(tag)) return null;
  const bytes = Buffer.from(tag, 'hex');
  const sep = bytes.indexOf(0x01);
  if (sep <= 0 || bytes.indexOf(0x01, sep + 1) !== -1) return null;
  const digits = bytes.length - sep - 1;
  if (digits < 1 || digits > 10) return null;
  for (let i = sep + 1; i < bytes.length; i++) if (bytes[i]! < 0x30 || bytes[i]! > 0x39) return null;
  let text: string;
  try {
    text = utf8Fatal.decode(bytes.subarray(0, sep));
  } catch {
    return null;
  }
  const colon = text.indexOf(':');
  if (colon === -1) return null;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The From header's `tag` parameter, or null. */
export function fromTag(msg: Pick<SipRequest, 'headers'>): string | null {
  const from = getHeader(msg, 'from');
  if (from === null) return null;
  const na = parseNameAddr(from);
  const tag = na?.params.get('tag');
  return tag === undefined || tag.length === 0 ? null : tag;
}

function extract(msg: SipRequest): CapturedAuth | null {
  let header: CapturedAuth['header'] = 'Authorization';
  let value = getHeader(msg, 'authorization');
  if (value === null) {
    value = getHeader(msg, 'proxy-authorization');
    header = 'Proxy-Authorization';
  }
  if (value === null) return null;
  const parsed = parseAuthHeader(value);
  const isDigest = parsed.scheme.toLowerCase() === 'digest';
  const p = (name: string): string | null => (isDigest ? parsed.params.get(name) ?? null : null);
  const auth: CapturedAuth = {
    header,
    scheme: parsed.scheme,
    username: p('username'),
    realm: p('realm'),
    nonce: p('nonce'),
    uri: p('uri'),
    response: p('response'),
    algorithm: p('algorithm'),
    qop: p('qop'),
    nc: p('nc'),
    cnonce: p('cnonce'),
    opaque: p('opaque'),
    password: null,
    passwordSource: null,
    passwordVerified: null,
  };
  const tag = fromTag(msg);
  const cred = tag === null ? null : decodeSipviciousTag(tag);
  if (cred !== null) {
    auth.password = cred.password;
    auth.passwordSource = 'sipvicious_tag';
    if (auth.response !== null && auth.nonce !== null && auth.uri !== null) {
      auth.passwordVerified = digestMatches(
        {
          // The username exactly as sent in the digest (sipsak sends `100@`), falling back to the tag's.
          username: auth.username ?? cred.username,
          realm: auth.realm ?? '',
          nonce: auth.nonce,
          uri: auth.uri,
          response: auth.response,
          method: msg.method,
          nc: auth.nc,
          cnonce: auth.cnonce,
          qop: auth.qop,
        },
        cred.password,
      );
    }
  }
  return auth;
}

/** the responder rules credential extractor (see {@link CredentialExtractor}). Never throws. */
export const extractCredentials: CredentialExtractor = (msg) => {
  try {
    return extract(msg);
  } catch {
    return null;
  }
};
