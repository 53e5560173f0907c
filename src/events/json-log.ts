import { APP_NAME, VERSION } from '../version.js';
import type { HoneypotEvent } from './event.js';
import { escapeAttackerText } from '../text/escape.js';

/** `auth` object of the JSON log (JSON-log key 22). */
export interface JsonLogAuth {
  username: string | null;
  realm: string | null;
  uri: string | null;
  nonce: string | null;
  response: string | null;
  algorithm: string | null;
  password: string | null;
}

/**
 * The JSON-log object. Keys 1–13 are SentryPeer's, in SentryPeer's order, always strings; 14–25
 * are ours, null when empty. The webhook body and P2P payload are this same object, so they never drift.
 */
export interface JsonLogRecord {
  app_name: string;
  app_version: string;
  event_timestamp: string;
  event_uuid: string;
  created_by_node_id: string;
  collected_method: string;
  transport_type: string;
  source_ip: string;
  destination_ip: string;
  called_number: string;
  sip_method: string;
  sip_user_agent: string;
  sip_message: string;
  source_port: number | null;
  destination_port: number | null;
  called_number_e164: string | null;
  request_uri_user: string | null;
  to_user: string | null;
  origin: string | null;
  origin_peer_id: string | null;
  response_code: number | null;
  auth: JsonLogAuth | null;
  sip_message_base64: string | null;
  source_country: string | null;
  source_verified: boolean | null;
}

/** Builds the JSON-log object for an event, with keys in the contract's order. */
export function toJsonLogRecord(e: HoneypotEvent): JsonLogRecord {
  return {
    app_name: APP_NAME,
    app_version: VERSION,
    event_timestamp: e.eventTimestamp,
    event_uuid: e.eventUuid,
    created_by_node_id: e.createdByNodeId,
    collected_method: e.collectedMethod,
    transport_type: e.transport,
    source_ip: e.sourceIp,
    destination_ip: e.destinationIp ?? '',
    called_number: e.calledNumber ?? '',
    sip_method: e.method,
    sip_user_agent: e.userAgent ?? '',
    sip_message: e.sipMessage ?? '',
    source_port: e.sourcePort,
    destination_port: e.destinationPort,
    called_number_e164: e.calledNumberE164 || null,
    request_uri_user: e.requestUriUser || null,
    to_user: e.toUser || null,
    origin: e.origin || null,
    origin_peer_id: e.originPeerId || null,
    response_code: e.responseCode,
    auth: e.auth
      ? {
          username: e.auth.username,
          realm: e.auth.realm,
          uri: e.auth.uri,
          nonce: e.auth.nonce,
          response: e.auth.response,
          algorithm: e.auth.algorithm,
          password: e.auth.password,
        }
      : null,
    sip_message_base64: e.sipMessageRaw ? e.sipMessageRaw.toString('base64') : null,
    source_country: e.sourceCountry || null,
    source_verified: e.sourceVerified,
  };
}

/**
 * One JSON-log line: compact JSON plus `\n`. Characters JSON.stringify leaves raw but a log viewer or terminal
 * could act on (DEL, C1, U+2028/9, bidi and other format characters) are written as `\uHHHH` escapes: a JSON
 * reader gets the same strings back, and a line of ordinary ASCII is byte-for-byte what SentryPeer writes.
 */
export function toJsonLogLine(e: HoneypotEvent): string {
  return escapeAttackerText(JSON.stringify(toJsonLogRecord(e)), 'json') + '\n';
}
