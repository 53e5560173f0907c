/**
 * Hand-made SIP edge cases: what no scanner in test/fixtures/sip/ sends (malformed, oversized, odd encodings, noise
 * on the SIP port), written here byte by byte with the values a lenient but safe reader must extract. The expected
 * values are written by hand from the bytes below, never computed by the code under test.
 *
 * Addresses are documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, example.*) and the
 * numbers are fictional. Shared by the parser table, the credential, property and daemon replay tests.
 */

/** The manifest fields of one message (same meaning as in test/fixtures/sip/manifest.json). */
export interface EdgeExpect {
  kind: 'request' | 'response' | 'keepalive' | 'empty' | 'garbage' | 'non-sip';
  method: string | null;
  requestUriUser: string | null;
  toUser: string | null;
  /** First User-Agent value exactly as sent (control characters kept); null when absent. */
  userAgent: string | null;
  callIdPresent: boolean;
  expected: 'capture' | 'capture-partial' | 'ignore-no-crash';
  authorization: Record<'header' | 'scheme' | 'username' | 'realm' | 'nonce' | 'uri' | 'response' | 'algorithm' | 'qop', string | null> | null;
  decodedSipviciousTagCredential: { username: string; password: string; tag: string } | null;
}
/** One datagram edge case. `file` is a stable name used in test titles (no file exists on disk). */
export interface EdgeCase extends EdgeExpect {
  file: string;
  transport: 'udp';
  bytes: Buffer;
}
/** A hand-made TCP stream: its bytes, the segments to feed, and where each message sits. */
export interface EdgeStream {
  file: string;
  kind: 'tcp-stream';
  data: Buffer;
  chunks: { offset: number; length: number }[];
  messages: (EdgeExpect & { offset: number; length: number })[];
}

const crlf = (...lines: string[]): string => lines.join('\r\n');
/** A small audio offer; exactly `sdp().length` bytes. */
const sdp = (ip: string, port = 17078): string =>
  crlf('v=0', `o=- 3894551234 3894551234 IN IP4 ${ip}`, 's=call', `c=IN IP4 ${ip}`, 't=0 0', `m=audio ${port} RTP/AVP 0 8 101`,
    'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', '');

const NONE = { authorization: null, decodedSipviciousTagCredential: null } as const;
const noise = (file: string, kind: EdgeExpect['kind'], bytes: Buffer, callIdPresent = false): EdgeCase => ({
  file, transport: 'udp', kind, bytes, method: null, requestUriUser: null, toUser: null, userAgent: null, callIdPresent,
  expected: 'ignore-no-crash', ...NONE,
});
type Req = Omit<EdgeCase, 'transport' | 'kind' | 'expected' | 'authorization' | 'decodedSipviciousTagCredential' | 'callIdPresent'> &
  Partial<Pick<EdgeCase, 'expected' | 'authorization' | 'decodedSipviciousTagCredential' | 'callIdPresent'>>;
const req = (r: Req): EdgeCase => ({ transport: 'udp', kind: 'request', expected: 'capture', callIdPresent: true, ...NONE, ...r });
const b = (s: string): Buffer => Buffer.from(s, 'utf8');

const svTag = '313030323A73653A6372657420776F72640131393730'; // hex("1002:se:cret word" 0x01 "1970"), upper case

/** Every datagram edge case (UDP; a daemon must record the `capture*` ones and only those). */
export const EDGE_CASES: EdgeCase[] = [
  req({
    file: 'edge-compact-forms-INVITE', method: 'INVITE', requestUriUser: '00442079460777', toUser: '00442079460777', userAgent: 'sipcli/v1.8',
    bytes: b(crlf('INVITE sip:00442079460777@198.51.100.20 SIP/2.0', 'v: SIP/2.0/UDP 203.0.113.5:5070;branch=z9hG4bK-c1;rport',
      'f: "2001" <sip:2001@198.51.100.20>;tag=c1', 't: <sip:00442079460777@198.51.100.20>', 'i: compact-1@203.0.113.5',
      'm: <sip:2001@203.0.113.5:5070>', 'CSeq: 1 INVITE', 'User-Agent: sipcli/v1.8', 'c: application/sdp',
      `l: ${Buffer.byteLength(sdp('203.0.113.5'))}`, '', sdp('203.0.113.5'))),
  }),
  req({
    file: 'edge-lf-only-REGISTER', method: 'REGISTER', requestUriUser: null, toUser: '3001', userAgent: 'PolycomSoundPointIP-SPIP_331-UA/3.2.3',
    bytes: b(['REGISTER sip:198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.6:5060;branch=z9hG4bK-lf', 'From: <sip:3001@198.51.100.20>;tag=lf',
      'To: <sip:3001@198.51.100.20>', 'Call-ID: lf-only-1', 'CSeq: 1 REGISTER', 'User-Agent: PolycomSoundPointIP-SPIP_331-UA/3.2.3',
      'Content-Length: 0', '', ''].join('\n')),
  }),
  req({
    file: 'edge-folded-headers-OPTIONS', method: 'OPTIONS', requestUriUser: '100', toUser: '100', userAgent: 'Linphone/3.12 (belle-sip/1.6)',
    bytes: b(crlf('OPTIONS sip:100@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.7:5060', ' ;branch=z9hG4bK-fold', 'From: <sip:x@203.0.113.7>',
      '  ;tag=fold', 'To:', '\t<sip:100@198.51.100.20>', 'Call-ID: fold-1', 'CSeq: 1 OPTIONS', 'User-Agent: Linphone/3.12', ' (belle-sip/1.6)',
      'Content-Length: 0', '', '')),
  }),
  req({
    file: 'edge-mixed-case-names-INVITE', method: 'INVITE', requestUriUser: '101', toUser: '101', userAgent: 'Asterisk PBX 1.8.32',
    bytes: b(crlf('INVITE sip:101@198.51.100.20 SIP/2.0', 'vIA: SIP/2.0/UDP 203.0.113.8;branch=z9hG4bK-mc', 'fROM: <sip:a@203.0.113.8>;tag=mc',
      'tO: "Desk" <sip:101@198.51.100.20>', 'CALL-id: mixed-1', 'cseq: 1 INVITE', 'USER-AGENT: Asterisk PBX 1.8.32', 'content-LENGTH: 0', '', '')),
  }),
  req({
    file: 'edge-missing-to-INVITE', method: 'INVITE', requestUriUser: '0046701740605', toUser: null, userAgent: 'friendly-scanner',
    expected: 'capture-partial',
    bytes: b(crlf('INVITE sip:0046701740605@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.9;branch=z9hG4bK-noto',
      'From: <sip:100@198.51.100.20>;tag=noto', 'Call-ID: no-to-1', 'CSeq: 1 INVITE', 'User-Agent: friendly-scanner', 'Content-Length: 0', '', '')),
  }),
  req({
    file: 'edge-to-tel-uri-INVITE', method: 'INVITE', requestUriUser: '+12025550143', toUser: '+1-202-555-0143', userAgent: 'Cisco-SIPGateway/IOS-15.x',
    bytes: b(crlf('INVITE sip:+12025550143@198.51.100.20;user=phone SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.10;branch=z9hG4bK-tel',
      'From: <sip:1@198.51.100.20>;tag=tel', 'To: <tel:+1-202-555-0143>', 'Call-ID: tel-1', 'CSeq: 1 INVITE',
      'User-Agent: Cisco-SIPGateway/IOS-15.x', 'Content-Length: 0', '', '')),
  }),
  req({
    file: 'edge-phone-context-INVITE', method: 'INVITE', requestUriUser: '5550100', toUser: '5550100', userAgent: 'eyeBeam release 3004t',
    bytes: b(crlf('INVITE sip:5550100;phone-context=+1202@pbx.example.com;user=phone SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.11;branch=z9hG4bK-pc',
      'From: <sip:7@pbx.example.com>;tag=pc', 'To: <sip:5550100;phone-context=+1202@pbx.example.com;user=phone>', 'Call-ID: pc-1',
      'CSeq: 1 INVITE', 'User-Agent: eyeBeam release 3004t', 'Content-Length: 0', '', '')),
  }),
  req({
    file: 'edge-visual-separators-INVITE', method: 'INVITE', requestUriUser: '+44-20-7946-0123', toUser: '+44-(20)-7946.0124', userAgent: 'Zoiper rv2.8',
    bytes: b(crlf('INVITE sip:+44-20-7946-0123@198.51.100.20;user=phone SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.12;branch=z9hG4bK-vs',
      'From: <sip:5@198.51.100.20>;tag=vs', 'To: <tel:+44-(20)-7946.0124>', 'Call-ID: vs-1', 'CSeq: 1 INVITE', 'User-Agent: Zoiper rv2.8',
      'Content-Length: 0', '', '')),
  }),
  req({
    file: 'edge-ruri-differs-from-to-INVITE', method: 'INVITE', requestUriUser: '9011442079460999', toUser: '100', userAgent: 'sipcli/v1.8',
    bytes: b(crlf('INVITE sip:9011442079460999@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.13;branch=z9hG4bK-diff',
      'From: "100" <sip:100@198.51.100.20>;tag=diff', 'To: "100" <sip:100@198.51.100.20>', 'Call-ID: diff-1', 'CSeq: 1 INVITE',
      'User-Agent: sipcli/v1.8', `Content-Length: ${Buffer.byteLength(sdp('203.0.113.13'))}`, '', sdp('203.0.113.13'))),
  }),
  req({
    file: 'edge-multiple-via-OPTIONS', method: 'OPTIONS', requestUriUser: '102', toUser: '102', userAgent: 'Fritz!Box',
    bytes: b(crlf('OPTIONS sip:102@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.14;branch=z9hG4bK-top;rport',
      'Via: SIP/2.0/TCP 192.0.2.7:5060;branch=z9hG4bK-m1, SIP/2.0/UDP 192.0.2.8:5080;branch=z9hG4bK-m2',
      'Via: SIP/2.0/UDP 192.0.2.9;received=192.0.2.99;branch=z9hG4bK-bot', 'From: <sip:p@203.0.113.14>;tag=mv', 'To: <sip:102@198.51.100.20>',
      'Call-ID: mv-1', 'CSeq: 1 OPTIONS', 'User-Agent: Fritz!Box', 'Content-Length: 0', '', '')),
  }),
  req({
    file: 'edge-content-length-too-large-INVITE', method: 'INVITE', requestUriUser: '103', toUser: '103', userAgent: 'PortSIP VoIP SDK 11.2',
    bytes: b(crlf('INVITE sip:103@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.15;branch=z9hG4bK-cl1', 'From: <sip:s@203.0.113.15>;tag=cl1',
      'To: <sip:103@198.51.100.20>', 'Call-ID: cl-large-1', 'CSeq: 1 INVITE', 'User-Agent: PortSIP VoIP SDK 11.2', 'Content-Length: 900', '',
      sdp('203.0.113.15'))),
  }),
  req({
    file: 'edge-content-length-too-small-INVITE', method: 'INVITE', requestUriUser: '104', toUser: '104', userAgent: 'PortSIP VoIP SDK 11.2',
    bytes: b(crlf('INVITE sip:104@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.16;branch=z9hG4bK-cl2', 'From: <sip:s@203.0.113.16>;tag=cl2',
      'To: <sip:104@198.51.100.20>', 'Call-ID: cl-small-1', 'CSeq: 1 INVITE', 'User-Agent: PortSIP VoIP SDK 11.2', 'Content-Length: 7', '',
      sdp('203.0.113.16'))),
  }),
  req({
    file: 'edge-no-content-length-udp-INVITE', method: 'INVITE', requestUriUser: '105', toUser: '105', userAgent: 'MizuPhone 2.4.1',
    bytes: b(crlf('INVITE sip:105@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.17;branch=z9hG4bK-nocl', 'From: <sip:s@203.0.113.17>;tag=nocl',
      'To: <sip:105@198.51.100.20>', 'Call-ID: no-cl-1', 'CSeq: 1 INVITE', 'Content-Type: application/sdp', 'User-Agent: MizuPhone 2.4.1', '',
      sdp('203.0.113.17'))),
  }),
  (() => {
    const body = sdp('203.0.113.18') + Array.from({ length: 120 }, (_, i) => `a=candidate:${i} 1 udp 2130706431 203.0.113.18 ${40000 + i} typ host`).join('\r\n') + '\r\n';
    return req({
      file: 'edge-large-sdp-INVITE', method: 'INVITE', requestUriUser: '0012025550147', toUser: '0012025550147', userAgent: 'Yealink SIP-T46S 66.86.0.15',
      bytes: b(crlf('INVITE sip:0012025550147@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.18;branch=z9hG4bK-big', 'From: <sip:6@198.51.100.20>;tag=big',
        'To: <sip:0012025550147@198.51.100.20>', 'Call-ID: big-sdp-1', 'CSeq: 1 INVITE', 'Content-Type: application/sdp',
        'User-Agent: Yealink SIP-T46S 66.86.0.15', `Content-Length: ${Buffer.byteLength(body)}`, '', body)),
    });
  })(),
  (() => {
    // Close to the largest UDP payload: the listener must take it whole.
    const head = crlf('INVITE sip:00870772001234@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.19;branch=z9hG4bK-60k', 'From: <sip:7@198.51.100.20>;tag=60k',
      'To: <sip:00870772001234@198.51.100.20>', 'Call-ID: sixty-k-1', 'CSeq: 1 INVITE', 'Content-Type: application/sdp', 'User-Agent: VoIPBuster 3.0');
    const total = 61_440;
    const fixed = Buffer.byteLength(head) + '\r\nContent-Length: 00000\r\n\r\n'.length;
    const body = sdp('203.0.113.19') + 'a=x-pad:' + 'z'.repeat(total - fixed - Buffer.byteLength(sdp('203.0.113.19')) - 'a=x-pad:'.length - 2) + '\r\n';
    const bytes = b(`${head}\r\nContent-Length: ${String(Buffer.byteLength(body)).padStart(5, '0')}\r\n\r\n${body}`);
    return req({ file: 'edge-datagram-60k-INVITE', method: 'INVITE', requestUriUser: '00870772001234', toUser: '00870772001234', userAgent: 'VoIPBuster 3.0', bytes });
  })(),
  noise('edge-response-404-none', 'response', b(crlf('SIP/2.0 404 Not Found', 'Via: SIP/2.0/UDP 198.51.100.20;branch=z9hG4bK-r404',
    'From: "sipvicious"<sip:100@1.1.1.1>;tag=3766303030303031313363340131323334', 'To: "sipvicious"<sip:100@1.1.1.1>;tag=as01',
    'Call-ID: 1234567890', 'CSeq: 1 OPTIONS', 'Server: Asterisk PBX 16.2', 'Content-Length: 0', '', '')), true),
  noise('edge-keepalive-crlf-none', 'keepalive', b('\r\n')),
  noise('edge-keepalive-double-crlf-none', 'keepalive', b('\r\n\r\n')),
  noise('edge-empty-datagram-none', 'empty', Buffer.alloc(0)),
  noise('edge-binary-garbage-none', 'garbage', Buffer.from(Array.from({ length: 200 }, (_, i) => (i * 97 + 13) & 0xff))),
  // A STUN binding request (magic cookie 0x2112A442), as NAT helpers send to SIP ports.
  noise('edge-stun-binding-request-none', 'garbage', Buffer.from('000100002112a442b7e7a701bc34d686fa87dfae', 'hex')),
  noise('edge-http-get-none', 'non-sip', b(crlf('GET /admin/config.xml HTTP/1.1', 'Host: 198.51.100.20:5060', 'User-Agent: Mozilla/5.0 (zgrab/0.x)',
    'Connection: close', '', ''))),
  req({
    file: 'edge-nul-bytes-OPTIONS', method: 'OPTIONS', requestUriUser: '100', toUser: '100', userAgent: 'VaxSIPUserAgent/3.1',
    bytes: b(crlf('OPTIONS sip:100@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.20;branch=z9hG4bK-nul', 'From: <sip:n@203.0.113.20>;tag=nul',
      'To: "\0\0root" <sip:100@198.51.100.20>', 'Call-ID: nul\0id-1', 'CSeq: 1 OPTIONS', 'X-Probe: \0\x01\x02\0', 'User-Agent: VaxSIPUserAgent/3.1',
      'Content-Length: 0', '', '')),
  }),
  req({
    file: 'edge-utf8-control-escape-INVITE', method: 'INVITE', requestUriUser: '108', toUser: '108', userAgent: '\x1b[32mсканер\x1b[0m 🛰 probe\x07\b',
    bytes: b(crlf('INVITE sip:108@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.21;branch=z9hG4bK-esc', 'From: "Zoë Ångström" <sip:z@203.0.113.21>;tag=esc',
      'To: "Ève" <sip:108@198.51.100.20>', 'Call-ID: esc-1', 'CSeq: 1 INVITE', 'User-Agent: \x1b[32mсканер\x1b[0m 🛰 probe\x07\b', 'Content-Length: 0', '', '')),
  }),
  req({
    // Invalid UTF-8 in the user agent: U+FFFD in the text, raw bytes kept.
    file: 'edge-invalid-utf8-ua-OPTIONS', method: 'OPTIONS', requestUriUser: '100', toUser: '100', userAgent: 'scan\ufffd\ufffdner',
    bytes: Buffer.concat([b(crlf('OPTIONS sip:100@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.22;branch=z9hG4bK-bad8', 'From: <sip:u@203.0.113.22>;tag=b8',
      'To: <sip:100@198.51.100.20>', 'Call-ID: bad-utf8-1', 'CSeq: 1 OPTIONS', 'User-Agent: scan')), Buffer.from([0xff, 0xfe]), b('ner\r\nContent-Length: 0\r\n\r\n')]),
  }),
  req({
    file: 'edge-cr-injected-ua-REGISTER', method: 'REGISTER', requestUriUser: null, toUser: '109',
    userAgent: 'friendly-scanner\rX-Real-IP: 192.0.2.66\r2025-06-01 12:00:00 sshd: Accepted password for root',
    bytes: b(crlf('REGISTER sip:198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.23;branch=z9hG4bK-cr', 'From: <sip:109@198.51.100.20>;tag=cr',
      'To: <sip:109@198.51.100.20>', 'Call-ID: cr-1', 'CSeq: 1 REGISTER',
      'User-Agent: friendly-scanner\rX-Real-IP: 192.0.2.66\r2025-06-01 12:00:00 sshd: Accepted password for root', 'Content-Length: 0', '', '')),
  }),
  req({
    file: 'edge-long-header-10k-OPTIONS', method: 'OPTIONS', requestUriUser: '100', toUser: '100', userAgent: 'sipsak 0.9.6',
    bytes: b(crlf('OPTIONS sip:100@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.24;branch=z9hG4bK-long', 'From: <sip:l@203.0.113.24>;tag=long',
      'To: <sip:100@198.51.100.20>', 'Call-ID: long-1', 'CSeq: 1 OPTIONS', 'X-Filler: ' + 'B'.repeat(10_000), 'User-Agent: sipsak 0.9.6', 'Content-Length: 0', '', '')),
  }),
  req({
    // More headers than the parser's header budget; the ones that matter come first.
    file: 'edge-500-headers-NOTIFY', method: 'NOTIFY', requestUriUser: '100', toUser: '100', userAgent: 'HeaderFlood/2.0',
    bytes: b(crlf('NOTIFY sip:100@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.25;branch=z9hG4bK-many', 'From: <sip:h@203.0.113.25>;tag=many',
      'To: <sip:100@198.51.100.20>', 'Call-ID: many-1', 'CSeq: 1 NOTIFY', 'Event: check-sync', 'User-Agent: HeaderFlood/2.0',
      ...Array.from({ length: 492 }, (_, i) => `X-F${i}: ${i}`), 'Content-Length: 0', '', '')),
  }),
  req({
    file: 'edge-non-ascii-user-INVITE', method: 'INVITE', requestUriUser: 'søren', toUser: 'søren', userAgent: 'Bria 5.0',
    bytes: b(crlf('INVITE sip:søren@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.26;branch=z9hG4bK-na', 'From: <sip:kontor@203.0.113.26>;tag=na',
      'To: <sip:søren@198.51.100.20>', 'Call-ID: non-ascii-1', 'CSeq: 1 INVITE', 'User-Agent: Bria 5.0', 'Content-Length: 0', '', '')),
  }),
  req({
    file: 'edge-percent-encoded-user-INVITE', method: 'INVITE', requestUriUser: '+12025550111', toUser: '+1 202 555 0111', userAgent: 'Ekiga/4.0.1',
    bytes: b(crlf('INVITE sip:%2B12025550111@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.27;branch=z9hG4bK-pct', 'From: <sip:%61b@203.0.113.27>;tag=pct',
      'To: <sip:%2b1%20202%20555%200111@198.51.100.20>', 'Call-ID: pct-1', 'CSeq: 1 INVITE', 'User-Agent: Ekiga/4.0.1', 'Content-Length: 0', '', '')),
  }),
  req({
    file: 'edge-ipv6-references-REGISTER', method: 'REGISTER', requestUriUser: null, toUser: '1003', userAgent: 'Grandstream HT802 1.0.17.5',
    bytes: b(crlf('REGISTER sip:[2001:db8::20]:5060 SIP/2.0', 'Via: SIP/2.0/UDP [2001:db8:1::7]:5060;branch=z9hG4bK-v6', 'From: <sip:1003@[2001:db8::20]>;tag=v6',
      'To: <sip:1003@[2001:db8::20]>', 'Call-ID: v6-1@[2001:db8:1::7]', 'CSeq: 1 REGISTER', 'Contact: <sip:1003@[2001:db8:1::7]:5060>',
      'User-Agent: Grandstream HT802 1.0.17.5', 'Content-Length: 0', '', '')),
  }),
  req({
    file: 'edge-leading-crlf-OPTIONS', method: 'OPTIONS', requestUriUser: '100', toUser: '100', userAgent: 'sundayddr',
    bytes: b('\r\n\r\n' + crlf('OPTIONS sip:100@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.28;branch=z9hG4bK-lead', 'From: <sip:l@203.0.113.28>;tag=lead',
      'To: <sip:100@198.51.100.20>', 'Call-ID: lead-1', 'CSeq: 1 OPTIONS', 'User-Agent: sundayddr', 'Content-Length: 0', '', '')),
  }),
  req({
    file: 'edge-quoted-display-name-INVITE', method: 'INVITE', requestUriUser: '102', toUser: '102', userAgent: 'X-Lite release 5.8',
    bytes: b(crlf('INVITE sip:102@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.29;branch=z9hG4bK-qdn',
      'From: "\\"root\\" <sip:1@bad.example>" <sip:111@203.0.113.29>;tag=qdn', 'To: "Help <sip:999@bad.example>; tag=y" <sip:102@198.51.100.20>',
      'Call-ID: qdn-1', 'CSeq: 1 INVITE', 'User-Agent: X-Lite release 5.8', 'Content-Length: 0', '', '')),
  }),
  req({
    file: 'edge-uri-with-password-INVITE', method: 'INVITE', requestUriUser: '100', toUser: '100', userAgent: 'SJphone/1.65',
    bytes: b(crlf('INVITE sip:100:letmein@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.30;branch=z9hG4bK-pw', 'From: <sip:100:letmein@198.51.100.20>;tag=pw',
      'To: <sip:100:letmein@198.51.100.20>', 'Call-ID: pw-1', 'CSeq: 1 INVITE', 'User-Agent: SJphone/1.65', 'Content-Length: 0', '', '')),
  }),
  req({
    file: 'edge-proxy-authorization-INVITE', method: 'INVITE', requestUriUser: '0046701740699', toUser: '0046701740699', userAgent: 'sipcli/v1.8',
    authorization: { header: 'Proxy-Authorization', scheme: 'Digest', username: '2001', realm: 'voip.example', nonce: '6a1f0b2c', uri: 'sip:0046701740699@198.51.100.20',
      response: '0c7f1e0b9d4a5e8f7a6b3c2d1e0f9a8b', algorithm: 'MD5', qop: null },
    bytes: b(crlf('INVITE sip:0046701740699@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.31;branch=z9hG4bK-pa', 'From: <sip:2001@198.51.100.20>;tag=pa',
      'To: <sip:0046701740699@198.51.100.20>', 'Call-ID: pa-1', 'CSeq: 2 INVITE',
      'Proxy-Authorization: Digest username="2001", realm="voip.example", nonce="6a1f0b2c", uri="sip:0046701740699@198.51.100.20", response="0c7f1e0b9d4a5e8f7a6b3c2d1e0f9a8b", algorithm=MD5',
      'User-Agent: sipcli/v1.8', 'Content-Length: 0', '', '')),
  }),
  req({
    // Spaces around "=", a lower-case scheme and header name, folded lines, an unquoted response, empty opaque.
    file: 'edge-authorization-odd-format-REGISTER', method: 'REGISTER', requestUriUser: null, toUser: '2002', userAgent: 'Cisco/SPA504G-7.6.2',
    authorization: { header: 'Authorization', scheme: 'digest', username: '2002', realm: 'sip.example.org', nonce: 'bm9uY2UtMTIz', uri: 'sip:sip.example.org',
      response: '9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d', algorithm: 'md5', qop: 'auth' },
    bytes: b(crlf('REGISTER sip:sip.example.org SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.32;branch=z9hG4bK-odd', 'From: <sip:2002@sip.example.org>;tag=odd',
      'To: <sip:2002@sip.example.org>', 'Call-ID: odd-1', 'CSeq: 2 REGISTER',
      'authorization: digest   username = "2002" ,realm="sip.example.org",', '  nonce="bm9uY2UtMTIz",uri="sip:sip.example.org" , response=9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d,',
      '\talgorithm=md5,cnonce="0a4f113b",nc=00000001,qop=auth,opaque=""', 'User-Agent: Cisco/SPA504G-7.6.2', 'Content-Length: 0', '', '')),
  }),
  req({
    file: 'edge-missing-call-id-REGISTER', method: 'REGISTER', requestUriUser: null, toUser: '104', userAgent: 'Asterisk PBX', expected: 'capture-partial',
    callIdPresent: false,
    bytes: b(crlf('REGISTER sip:198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.33;branch=z9hG4bK-nocid', 'From: <sip:104@198.51.100.20>;tag=nocid',
      'To: <sip:104@198.51.100.20>', 'CSeq: 1 REGISTER', 'User-Agent: Asterisk PBX', 'Content-Length: 0', '', '')),
  }),
  req({
    file: 'edge-duplicate-user-agent-OPTIONS', method: 'OPTIONS', requestUriUser: '100', toUser: '100', userAgent: 'friendly-scanner',
    bytes: b(crlf('OPTIONS sip:100@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.34;branch=z9hG4bK-dup', 'From: <sip:d@203.0.113.34>;tag=dup',
      'To: <sip:100@198.51.100.20>', 'Call-ID: dup-1', 'CSeq: 1 OPTIONS', 'User-Agent: friendly-scanner', 'user-agent: Cisco-CP7960G/8.0',
      'User-Agent: Grandstream GXP1625', 'Content-Length: 0', '', '')),
  }),
  req({
    file: 'edge-unknown-method-FOOBAR', method: 'FOOBAR', requestUriUser: '100', toUser: '100', userAgent: 'sip-fuzz/0.2',
    bytes: b(crlf('FOOBAR sip:100@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.35;branch=z9hG4bK-foo', 'From: <sip:f@203.0.113.35>;tag=foo',
      'To: <sip:100@198.51.100.20>', 'Call-ID: foo-1', 'CSeq: 1 FOOBAR', 'User-Agent: sip-fuzz/0.2', 'Content-Length: 0', '', '')),
  }),
  req({
    // Cut in the middle of the To header: no blank line, no end of headers.
    file: 'edge-truncated-headers-INVITE', method: 'INVITE', requestUriUser: '00963115550142', toUser: null, userAgent: 'friendly-scanner', expected: 'capture-partial',
    bytes: b(crlf('INVITE sip:00963115550142@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.36;branch=z9hG4bK-cut', 'From: <sip:100@198.51.100.20>;tag=cut',
      'Call-ID: cut-1', 'User-Agent: friendly-scanner', 'To: <sip:0096311')),
  }),
  req({
    // Mangled header names (as sipsak -R sends): Max-Forwards and User-Agent are not recognised; To has no user.
    file: 'edge-corrupted-header-names-OPTIONS', method: 'OPTIONS', requestUriUser: null, toUser: null, userAgent: null, expected: 'capture-partial',
    bytes: Buffer.concat([b(crlf('OPTIONS sip:198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.37/5118;branch=z9hG4bK.1f;rport', 'From: sip:sipsak@203.0.113.37;tag=3d',
      'To: sip:198.51.100.20', 'Call-ID: 77@203.0.113.37', 'CSeq: 1 OPTIONS', 'Content-Length: 0', 'Max-')), Buffer.from([0xdb]), b('orwards: 70\r\nUser-'),
      Buffer.from([0xeb]), b('gent: sipsak\r\n\r\n')]),
  }),
  req({
    file: 'edge-message-sms-spam-MESSAGE', method: 'MESSAGE', requestUriUser: '101', toUser: '101', userAgent: 'pjsip python',
    bytes: b(crlf('MESSAGE sip:101@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.38;branch=z9hG4bK-msg', 'From: "Bank" <sip:bank@203.0.113.38>;tag=msg',
      'To: <sip:101@198.51.100.20>', 'Call-ID: msg-1', 'CSeq: 1 MESSAGE', 'Content-Type: text/plain', 'User-Agent: pjsip python', 'Content-Length: 41', '',
      'Card blocked. Call +1 202 555 0188 today.')),
  }),
  req({
    file: 'edge-uppercase-sips-scheme-INVITE', method: 'INVITE', requestUriUser: '00972599123400', toUser: '00972599123400', userAgent: 'Avaya one-X Deskphone',
    bytes: b(crlf('INVITE SIPS:00972599123400@198.51.100.20 SIP/2.0', 'Via: SIP/2.0/TLS 203.0.113.39:5061;branch=z9hG4bK-sips', 'From: <sips:100@198.51.100.20>;tag=sips',
      'To: <Sip:00972599123400@198.51.100.20>', 'Call-ID: sips-1', 'CSeq: 1 INVITE', 'User-Agent: Avaya one-X Deskphone', 'Content-Length: 0', '', '')),
  }),
  req({
    // A sipvicious-format credential tag in upper-case hex whose password holds ":" and a space.
    file: 'edge-sipvicious-tag-colon-password-REGISTER', method: 'REGISTER', requestUriUser: null, toUser: '1002', userAgent: 'friendly-scanner',
    authorization: { header: 'Authorization', scheme: 'Digest', username: '1002', realm: 'asterisk', nonce: '1c2d3e4f', uri: 'sip:198.51.100.20',
      response: '2b3c4d5e6f708192a3b4c5d6e7f80912', algorithm: 'MD5', qop: 'auth' },
    decodedSipviciousTagCredential: { username: '1002', password: 'se:cret word', tag: svTag },
    bytes: b(crlf('REGISTER sip:198.51.100.20 SIP/2.0', 'Via: SIP/2.0/UDP 203.0.113.40:5060;branch=z9hG4bK-27182;rport', 'To: "1002" <sip:1002@198.51.100.20>',
      `From: "1002" <sip:1002@198.51.100.20>;tag=${svTag}`, 'User-Agent: friendly-scanner', 'Call-ID: 161803398', 'CSeq: 2 REGISTER', 'Content-Length: 0',
      'Authorization: Digest username="1002",realm="asterisk",nonce="1c2d3e4f",uri="sip:198.51.100.20",algorithm=MD5,qop=auth,response="2b3c4d5e6f708192a3b4c5d6e7f80912"',
      '', '')),
  }),
];

/** A hand-made TCP stream: two requests and a CRLFCRLF keep-alive in one segment, then a request split over three. */
export const EDGE_STREAM: EdgeStream = (() => {
  const zoiper = 'User-Agent: Zoiper rv2.10.20';
  const m1 = crlf('REGISTER sip:198.51.100.20;transport=tcp SIP/2.0', 'Via: SIP/2.0/TCP 203.0.113.41:49200;branch=z9hG4bK-sA', 'From: <sip:2005@198.51.100.20>;tag=sA',
    'To: <sip:2005@198.51.100.20>', 'Call-ID: stream-a', 'CSeq: 1 REGISTER', zoiper, 'Content-Length: 0', '', '');
  const m2 = crlf('INVITE sip:00447700900456@198.51.100.20;transport=tcp SIP/2.0', 'Via: SIP/2.0/TCP 203.0.113.41:49200;branch=z9hG4bK-sB',
    'From: <sip:2005@198.51.100.20>;tag=sB', 'To: <sip:00447700900456@198.51.100.20>', 'Call-ID: stream-b', 'CSeq: 1 INVITE', zoiper,
    `Content-Length: ${Buffer.byteLength(sdp('203.0.113.41'))}`, '', sdp('203.0.113.41'));
  const ka = '\r\n\r\n';
  const m3 = crlf('INVITE sip:+18005550142@198.51.100.20;transport=tcp SIP/2.0', 'Via: SIP/2.0/TCP 203.0.113.41:49200;branch=z9hG4bK-sC',
    'From: <sip:2005@198.51.100.20>;tag=sC', 'To: "Free" <sip:+18005550142@198.51.100.20>', 'Call-ID: stream-c', 'CSeq: 2 INVITE', zoiper,
    `Content-Length: ${Buffer.byteLength(sdp('203.0.113.41', 17100))}`, '', sdp('203.0.113.41', 17100));
  const data = b(m1 + m2 + ka + m3);
  const l1 = m1.length;
  const l2 = m2.length;
  const first = l1 + l2 + ka.length;
  const chunks = [
    { offset: 0, length: first },
    { offset: first, length: 25 },
    { offset: first + 25, length: 300 },
    { offset: first + 325, length: m3.length - 325 },
  ];
  const zoiperUa = 'Zoiper rv2.10.20';
  const request = { kind: 'request' as const, expected: 'capture' as const, callIdPresent: true, userAgent: zoiperUa, ...NONE };
  return {
    file: 'edge-stream-concat-and-split',
    kind: 'tcp-stream',
    data,
    chunks,
    messages: [
      { offset: 0, length: l1, ...request, method: 'REGISTER', requestUriUser: null, toUser: '2005' },
      { offset: l1, length: l2, ...request, method: 'INVITE', requestUriUser: '00447700900456', toUser: '00447700900456' },
      { offset: l1 + l2, length: ka.length, kind: 'keepalive', expected: 'ignore-no-crash', method: null, requestUriUser: null, toUser: null, userAgent: null,
        callIdPresent: false, ...NONE },
      { offset: first, length: m3.length, ...request, method: 'INVITE', requestUriUser: '+18005550142', toUser: '+18005550142' },
    ],
  };
})();
