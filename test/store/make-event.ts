import { newUuid, receiptTime, type HoneypotEvent } from '../../src/events/event.js';

/** A realistic ~500-byte OPTIONS/INVITE event; override any field. */
export function makeEvent(over: Partial<HoneypotEvent> = {}): HoneypotEvent {
  const t = receiptTime();
  const uuid = newUuid();
  const sipMessage =
    `INVITE sip:0046812118532@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-${uuid.slice(0, 8)}\r\n` +
    `From: "sipvicious"<sip:100@1.1.1.1>;tag=6631336137\r\nTo: "sipvicious"<sip:100@1.1.1.1>\r\n` +
    `Call-ID: ${uuid}\r\nCSeq: 1 INVITE\r\nContact: <sip:100@192.0.2.10:5060>\r\nMax-Forwards: 70\r\n` +
    `User-Agent: friendly-scanner\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n`;
  return {
    eventUuid: uuid,
    eventTimestamp: t.eventTimestamp,
    eventTimeUs: t.eventTimeUs,
    sourceIp: '192.0.2.10',
    sourcePort: 5060,
    destinationIp: '127.0.0.1',
    destinationPort: 5060,
    transport: 'UDP',
    method: 'INVITE',
    requestUriUser: '0046812118532',
    toUser: '100',
    calledNumber: '0046812118532',
    calledNumberE164: '+46812118532',
    userAgent: 'friendly-scanner',
    sipMessage,
    sipMessageRaw: null,
    collectedMethod: 'responsive',
    createdByNodeId: '00000000-0000-4000-8000-000000000000',
    origin: 'local',
    originPeerId: null,
    responseCode: 407,
    auth: null,
    sourceVerified: false,
    sourceCountry: null,
    sourceCity: null,
    peerEnvelope: null,
    ...over,
  };
}
