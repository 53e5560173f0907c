// Micro-benchmark of the SIP wire parser: parses/s for a ~500-byte OPTIONS and a ~3 KB INVITE, against a
// baseline that only decodes and splits lines. Run: node --import tsx bench/parse.ts [seconds-per-case]
import { parseSipMessage } from '../src/sip/wire/parse.js';
import { extractFields } from '../src/sip/wire/extract.js';
import { serializeRequest } from '../src/sip/wire/serialize.js';

const options = serializeRequest({
  method: 'OPTIONS',
  requestUri: 'sip:100@198.51.100.10',
  headers: [
    { name: 'Via', value: 'SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK-524287-1---a1b2c3d4e5f6;rport' },
    { name: 'Max-Forwards', value: '70' },
    { name: 'To', value: '"sipvicious"<sip:100@198.51.100.10>' },
    { name: 'From', value: '"sipvicious"<sip:100@198.51.100.10>;tag=6434396633623535313632336136333133613330' },
    { name: 'User-Agent', value: 'friendly-scanner' },
    { name: 'Call-ID', value: '1234567890123456789012345678' },
    { name: 'Contact', value: 'sip:100@203.0.113.7:5060' },
    { name: 'CSeq', value: '1 OPTIONS' },
    { name: 'Accept', value: 'application/sdp' },
    { name: 'Allow', value: 'INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO' },
  ],
});
const sdp = ['v=0', 'o=- 3958328133 3958328133 IN IP4 203.0.113.7', 's=call', 'c=IN IP4 203.0.113.7', 't=0 0',
  'm=audio 40000 RTP/AVP 0 8 18 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:18 G729/8000',
  'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', 'a=sendrecv'];
while (sdp.join('\r\n').length < 2500) sdp.push(`a=candidate:${sdp.length} 1 UDP 2130706431 203.0.113.7 ${40000 + sdp.length} typ host`);
const invite = serializeRequest({
  method: 'INVITE',
  requestUri: 'sip:0046812118532@198.51.100.10',
  headers: [
    { name: 'Via', value: 'SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bK-1;rport' },
    { name: 'Max-Forwards', value: '70' },
    { name: 'From', value: '<sip:100@198.51.100.10>;tag=abc' },
    { name: 'To', value: '<sip:0046812118532@198.51.100.10>' },
    { name: 'Call-ID', value: 'invite-bench-0001@203.0.113.7' },
    { name: 'CSeq', value: '1 INVITE' },
    { name: 'Contact', value: '<sip:100@203.0.113.7:5060>' },
    { name: 'User-Agent', value: 'Yealink SIP-T46S 66.86.0.15' },
    { name: 'Content-Type', value: 'application/sdp' },
  ],
  body: Buffer.from(sdp.join('\r\n') + '\r\n'),
});

const seconds = Number(process.argv[2] ?? '1');

function rate(fn: () => unknown): number {
  for (let i = 0; i < 20_000; i++) fn(); // warm-up
  let n = 0;
  const t0 = process.hrtime.bigint();
  const limit = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  do {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
    elapsed = process.hrtime.bigint() - t0;
  } while (elapsed < limit);
  return n / (Number(elapsed) / 1e9);
}

const fmt = (r: number): string => `${Math.round(r).toLocaleString('en-US').padStart(12)}/s`;
for (const [name, buf] of [['OPTIONS', options], ['INVITE', invite]] as const) {
  const baseline = rate(() => buf.toString('utf8').split('\r\n'));
  const parse = rate(() => parseSipMessage(buf));
  const full = rate(() => {
    const r = parseSipMessage(buf);
    return r.ok ? extractFields(r.msg) : null;
  });
  console.log(`${name} ${String(buf.length).padStart(5)} B  baseline(split lines) ${fmt(baseline)}  parse ${fmt(parse)}  parse+extract ${fmt(full)}`);
}
