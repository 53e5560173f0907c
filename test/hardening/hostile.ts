/**
 * Hostile SIP requests for the per-message work budget (property test and `npm run bench -- hardening`): a
 * well-formed request line and the headers every stage reads (Via, From, To, Call-ID, CSeq, Authorization,
 * User-Agent, Contact, Expires), whose values are made of long runs, many parameters, quoted strings with
 * backslashes, separators and every Unicode line/paragraph separator, up to the 64 KiB datagram limit. Header
 * lines stay just under the parser's 8 KiB line budget (longer ones are skipped, so they would cost nothing).
 */
import fc from 'fast-check';

/** The datagram limit (a UDP payload cannot be larger). */
export const MAX_DATAGRAM = 65_507;
/** Stay under the parser's per-line budget (8,192 bytes with the name). */
const MAX_VALUE = 8_100;

const RUN_CHARS = [' ', '\t', '\u2028', '\u2029', '\u0085', '\0', '\x7f', '\x9b', '\u202e', '"', '\\', ';', ',', '=', ':', '@', '<', '>', '%', '/', 'a', '0'];

/** One hostile piece of a header value. */
const piece: fc.Arbitrary<string> = fc.oneof(
  // A long run of one character, optionally ended by another (the backtracking shape).
  fc.tuple(fc.constantFrom(...RUN_CHARS), fc.integer({ min: 1, max: MAX_VALUE }), fc.constantFrom('', ...RUN_CHARS)).map(([c, n, end]) => c.repeat(n) + end),
  // Many parameters.
  fc.tuple(fc.constantFrom(';', ','), fc.integer({ min: 1, max: 1500 }), fc.constantFrom('tag=x', 'a', 'branch=z9hG4bK', 'k="v\\"', 'nonce=', '=', 'received=1.2.3.4', 'rport')).map(([sep, n, p]) => (sep + p).repeat(n)),
  // An unterminated or escaped-heavy quoted string.
  fc.tuple(fc.integer({ min: 1, max: 4000 }), fc.boolean()).map(([n, close]) => '"' + '\\"'.repeat(n) + (close ? '"' : '')),
  // Percent-escapes (decoded into URI users).
  fc.integer({ min: 1, max: 2500 }).map((n) => '%e2%80%ae%0d%00'.repeat(Math.ceil(n / 5)).slice(0, n * 3)),
  // Ordinary text.
  fc.constantFrom('SIP/2.0/UDP ', 'sip:100@127.0.0.1', '<sip:100@h>', 'Digest username=', ' 1 INVITE', 'x', ''),
);

/** A header value: a few pieces, cut to the line budget. */
const value: fc.Arbitrary<string> = fc.array(piece, { minLength: 1, maxLength: 4 }).map((ps) => ps.join('').slice(0, MAX_VALUE));

const NAMES = ['Via', 'v', 'From', 'To', 't', 'Call-ID', 'CSeq', 'Authorization', 'Proxy-Authorization', 'User-Agent', 'Contact', 'Expires', 'X-Junk'];

/** Prefixes that put a value where each reader looks (sent-by, digest params, name-addr). */
const PREFIX: Record<string, string[]> = {
  Via: ['SIP/2.0/UDP ', 'SIP/2.0/UDP 1.2.3.4', 'SIP / 2.0 / UDP\t', ''],
  v: ['SIP/2.0/UDP '],
  Authorization: ['Digest username=', 'Digest ', 'Digest realm="'],
  'Proxy-Authorization': ['Digest nonce='],
  From: ['<sip:a@b>;tag=', '"', 'sip:'],
  To: ['<sip:100@h>', 'sip:', '"x" <sip:'],
  t: ['<sip:'],
  Contact: ['<sip:'],
};

const header: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...NAMES), fc.nat(), value, fc.boolean())
  .map(([name, k, v, fold]) => {
    const pre = PREFIX[name] ?? [''];
    const text = (pre[k % pre.length]! + v).slice(0, MAX_VALUE);
    // Sometimes folded onto a continuation line (obsolete line folding: the parser joins it).
    return `${name}: ${fold ? text.slice(0, text.length >> 1) + '\r\n ' + text.slice(text.length >> 1) : text}`;
  });

const METHODS = ['INVITE', 'REGISTER', 'OPTIONS', 'ACK', 'CANCEL', 'BYE', 'SUBSCRIBE', 'MESSAGE'];

/** A hostile request as bytes, at most {@link MAX_DATAGRAM}. */
export const hostileMessage: fc.Arbitrary<Buffer> = fc
  .tuple(fc.constantFrom(...METHODS), fc.array(header, { minLength: 1, maxLength: 14 }), value, fc.boolean())
  .map(([method, headers, ruriUser, auth]) => {
    const lines = [
      `${method} sip:${ruriUser.slice(0, 2000).replace(/[\r\n ]/g, '%20')}@127.0.0.1 SIP/2.0`,
      'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKhostile;rport',
      'From: <sip:a@192.0.2.1>;tag=1',
      'To: <sip:100@127.0.0.1>',
      'Call-ID: hostile',
      `CSeq: 1 ${method}`,
      ...(auth ? ['Authorization: Digest username="100", realm="asterisk", nonce="1/2", uri="sip:x", response="0"'] : []),
    ];
    // Hostile headers first, so each reader meets them before the plain ones (first occurrence wins).
    const text = [lines[0]!, ...headers, ...lines.slice(1)].join('\r\n') + '\r\nContent-Length: 0\r\n\r\n';
    const buf = Buffer.from(text, 'utf8');
    return buf.length <= MAX_DATAGRAM ? buf : Buffer.concat([buf.subarray(0, MAX_DATAGRAM - 4), Buffer.from('\r\n\r\n')]);
  });

/** The hardening issue's exact payloads, as whole requests. */
export function issuePayloads(): Buffer[] {
  const base = (extra: string): Buffer =>
    Buffer.from(`OPTIONS sip:100@127.0.0.1 SIP/2.0\r\n${extra}\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:100@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`);
  return [
    base('Via: SIP/2.0/UDP' + ' '.repeat(8150) + '\u2028'),
    base('Via: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\nAuthorization: Digest username=x' + ' '.repeat(8000) + 'y'),
  ];
}
