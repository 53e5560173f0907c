/**
 * Responsive profiles: what each one claims to be and how it answers. The conversation
 * engine in `index.ts` reads these tables; it holds no profile-specific branches beyond them.
 */
import type { ProfileName } from '../../config/types.js';

/** FreePBX's Server string (also used by `reject-404`, `redirect` and SentryPeer's canned reply). */
export const FPBX_SERVER = 'FPBX-16.0.33(18.13.0)';

/** Capability header values of SentryPeer's canned reply, sent on every OPTIONS 200. */
export const CAPABILITIES: ReadonlyArray<readonly [string, string]> = [
  ['Allow', 'OPTIONS, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK, REGISTER, REFER, MESSAGE'],
  [
    'Accept',
    'application/sdp, application/dialog-info+xml, application/simple-message-summary, application/xpidf+xml, application/cpim-pidf+xml, application/pidf+xml, application/pidf+xml, application/dialog-info+xml, application/simple-message-summary, message/sipfrag;version=2.0',
  ],
  ['Supported', '100rel, timer, replaces, norefersub'],
  ['Accept-Encoding', 'text/plain'],
  ['Accept-Language', 'en'],
];

/** Methods named in `Allow` (§7.3 "other: 200 OK if listed in Allow, else 501"). Case-sensitive, as SIP is. */
export const ALLOWED_METHODS: ReadonlySet<string> = new Set(CAPABILITIES[0]![1].split(', '));

/**
 * SentryPeer's canned 200 OK: 13 lines, each + CRLF, no empty line after, line 13 with two
 * spaces. 730 bytes, SHA-256 6092609f…bdf3a. No trailing NUL (SentryPeer C sends one; deliberate deviation).
 */
export const SENTRYPEER_CLASSIC_REPLY: Buffer = Buffer.from(
  [
    'SIP/2.0 200 OK',
    'Via: SIP/2.0/UDP 127.0.0.1:56940',
    'Call-ID: 1179563087@127.0.0.1',
    'From: <sip:sipsak@127.0.0.1>;tag=464eb44f',
    'To: <sip:asterisk@127.0.0.1>;tag=z9hG4bK.1c882828',
    'CSeq: 1 OPTIONS',
    `Accept: ${CAPABILITIES[1]![1]}`,
    `Allow: ${CAPABILITIES[0]![1]}`,
    `Supported: ${CAPABILITIES[2]![1]}`,
    'Accept-Encoding: text/plain',
    'Accept-Language: en',
    `Server: ${FPBX_SERVER}`,
    'Content-Length:  0',
  ]
    .map((l) => l + '\r\n')
    .join(''),
  'latin1',
);

/** How a profile answers; see the responder rules table. */
export interface ProfileDef {
  name: ProfileName;
  server: string;
  /** Digest realm: a fixed string, or the destination IP the request reached (FreeSWITCH). */
  realm: { kind: 'fixed'; value: string } | { kind: 'destination' };
  /** INVITE without credentials. */
  invite:
    | { kind: 'challenge'; status: 401 | 407 }
    | { kind: 'reject'; status: 404 }
    | { kind: 'redirect'; status: 302 };
  /** INVITE with credentials (challenge profiles only): provisional, then the final after `delayMs`. */
  afterCredentials: { provisional: 180 | 183; final: 404 | 486; delayMs: number };
  /** REGISTER/SUBSCRIBE: decoy extensions with a challenge, or `404` to everything. */
  register: 'decoy' | 'reject';
  /**
   * BYE, CANCEL and methods without their own row: `rfc` = §7.3 (BYE/CANCEL 200, others 200 if in Allow, else
   * 501); `minimal` = the asterisk row, "OPTIONS 200, others 501".
   */
  others: 'rfc' | 'minimal';
}

const AFTER_CREDS_FREEPBX = { provisional: 180, final: 486, delayMs: 1000 } as const;

/** Every profile but `sentrypeer-classic`, which is stateless canned bytes. */
export const PROFILE_DEFS: Readonly<Record<Exclude<ProfileName, 'sentrypeer-classic'>, ProfileDef>> = {
  freepbx: {
    name: 'freepbx',
    server: FPBX_SERVER,
    realm: { kind: 'fixed', value: 'asterisk' },
    invite: { kind: 'challenge', status: 401 },
    afterCredentials: AFTER_CREDS_FREEPBX,
    register: 'decoy',
    others: 'rfc',
  },
  asterisk: {
    name: 'asterisk',
    server: 'Asterisk PBX 18.13.0',
    realm: { kind: 'fixed', value: 'asterisk' },
    invite: { kind: 'challenge', status: 401 },
    afterCredentials: { provisional: 180, final: 404, delayMs: 1000 },
    register: 'decoy',
    others: 'minimal',
  },
  freeswitch: {
    name: 'freeswitch',
    server: 'FreeSWITCH-mod_sofia/1.10.9-release~64bit',
    realm: { kind: 'destination' },
    invite: { kind: 'challenge', status: 407 },
    afterCredentials: { provisional: 183, final: 486, delayMs: 1000 },
    register: 'decoy',
    others: 'rfc',
  },
  'reject-404': {
    name: 'reject-404',
    server: FPBX_SERVER,
    realm: { kind: 'fixed', value: 'asterisk' },
    invite: { kind: 'reject', status: 404 },
    afterCredentials: AFTER_CREDS_FREEPBX,
    register: 'reject',
    others: 'rfc',
  },
  redirect: {
    name: 'redirect',
    server: FPBX_SERVER,
    // REGISTER keeps the §7.3 decoy challenge (so credentials are still captured); INVITE is never challenged.
    realm: { kind: 'fixed', value: 'asterisk' },
    invite: { kind: 'redirect', status: 302 },
    afterCredentials: AFTER_CREDS_FREEPBX,
    register: 'decoy',
    others: 'rfc',
  },
};

/** RFC 3261 reason phrases for the statuses we send. */
export const REASONS: Readonly<Record<number, string>> = {
  100: 'Trying',
  180: 'Ringing',
  183: 'Session Progress',
  200: 'OK',
  302: 'Moved Temporarily',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  407: 'Proxy Authentication Required',
  486: 'Busy Here',
  487: 'Request Terminated',
  501: 'Not Implemented',
};
