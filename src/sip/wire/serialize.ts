/**
 * Serialises a request to wire bytes (used by tests' round-trip property, benchmarks and tooling).
 */

/** Input of {@link serializeRequest}. Header names are written as given. */
export interface SerializableRequest {
  method: string;
  requestUri: string;
  /** Default `SIP/2.0`. */
  sipVersion?: string;
  headers: ReadonlyArray<{ name: string; value: string }>;
  /** Body bytes; default empty. */
  body?: Buffer;
  /**
   * Append `Content-Length` matching the body when no header named content-length/`l` is present (default true).
   */
  addContentLength?: boolean;
}

/** `METHOD SP Request-URI SP SIP/2.0 CRLF (name: value CRLF)* CRLF body`. */
export function serializeRequest(req: SerializableRequest): Buffer {
  const body = req.body ?? Buffer.alloc(0);
  let head = `${req.method} ${req.requestUri} ${req.sipVersion ?? 'SIP/2.0'}\r\n`;
  let hasCl = false;
  for (const h of req.headers) {
    const n = h.name.toLowerCase();
    if (n === 'content-length' || n === 'l') hasCl = true;
    head += `${h.name}: ${h.value}\r\n`;
  }
  if (!hasCl && req.addContentLength !== false) head += `Content-Length: ${body.length}\r\n`;
  head += '\r\n';
  return body.length === 0 ? Buffer.from(head, 'utf8') : Buffer.concat([Buffer.from(head, 'utf8'), body]);
}
