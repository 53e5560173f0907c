/**
 * SIP-over-stream framer: splits the bytes of one TCP/TLS connection into messages, each ending at
 * the blank line plus `Content-Length` bytes (`l` accepted, missing or unparsable = 0). CR/LF between messages
 * is keep-alive. Work is linear in the bytes received: the header-end search resumes where it stopped, bytes are
 * copied at most once into a growable buffer, and a chunk that starts on a message boundary is framed in place.
 */

/** One framing result. */
export type FramedItem =
  /**
   * One complete message (a view into the pushed chunk or a private copy; never mutated afterwards). Bytes that
   * cannot begin a SIP start line (first byte not a token character) are handed over at once as one item, so
   * the parser rejects them (`not_sip`) and the caller closes the stream.
   */
  | { kind: 'message'; bytes: Buffer }
  /** CR/LF between messages. `pong: true` when a `\r\n\r\n` ping was seen (responsive mode answers `\r\n`). */
  | { kind: 'keepalive'; pong: boolean }
  /** A message grew past `maxMessageBytes` without completing: the caller closes the connection. */
  | { kind: 'error'; reason: 'oversize' };

/** Stateful framer for one connection. */
export interface StreamFramer {
  /** Feeds the next bytes received; returns the items they complete, in order. Never throws. */
  push(chunk: Buffer): FramedItem[];
  /** Bytes held for an incomplete message. */
  readonly buffered: number;
}

import { TOKEN } from './parse.js';

const CR = 13;
const LF = 10;

/** Creates a framer. After an `error` item the framer is dead and returns no more items. */
export function createStreamFramer(opts: { maxMessageBytes: number }): StreamFramer {
  const max = opts.maxMessageBytes;
  // Pending bytes live in store[0, len); they always start at a message start (never at idle CR/LF).
  let store = Buffer.alloc(0);
  let len = 0;
  /** Next offset (relative to message start) from which to look for the header-block end. */
  let scanFrom = 0;
  /** Total length of the current message once its header block is known, else -1. */
  let total = -1;
  /** True while pending bytes belong to an incomplete message (so leading CR/LF is not keep-alive). */
  let inMsg = false;
  /** Keep-alive state: bytes of `\r\n\r\n` matched so far, and whether an unreported CR/LF run exists. */
  let ka = 0;
  let kaRun = false;
  let dead = false;

  const ensure = (need: number): void => {
    if (store.length >= need) return;
    let cap = Math.max(4096, store.length * 2);
    while (cap < need) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    store.copy(next, 0, 0, len);
    store = next;
  };

  /**
   * Frames messages in data[from, end). Returns the offset of the first unconsumed byte (start of an incomplete
   * message) — or -1 after an error. Messages are emitted as views when `view` is true, else copied.
   */
  const frame = (data: Buffer, from: number, out: FramedItem[], view: boolean): number => {
    let pos = from;
    const end = data.length;
    while (pos < end) {
      if (!inMsg) {
        // Between messages: consume CR/LF keep-alive bytes.
        let b = data[pos]!;
        if (b === CR || b === LF) {
          while (pos < end && (b === CR || b === LF)) {
            kaRun = true;
            if (b === CR) ka = ka === 0 || ka === 2 ? ka + 1 : 1;
            else if (ka === 1) ka = 2;
            else if (ka === 3) {
              out.push({ kind: 'keepalive', pong: true });
              ka = 0;
              kaRun = false;
            } else ka = 0;
            pos++;
            if (pos < end) b = data[pos]!;
          }
          if (pos >= end) break;
        }
        if (kaRun) out.push({ kind: 'keepalive', pong: false });
        ka = 0;
        kaRun = false;
        inMsg = true;
      }
      const start = pos;
      if (total === -1 && scanFrom === 0 && TOKEN[data[start]!] !== 1) {
        // Cannot start a request or status line (binary, TLS or DNS bytes on the plain port): hand over what
        // there is now, so the caller's parser rejects it and closes, instead of waiting for a blank line.
        out.push({ kind: 'message', bytes: view ? data.subarray(start, end) : Buffer.from(data.subarray(start, end)) });
        inMsg = false;
        return end;
      }
      if (total === -1) {
        // Search the header-block end: "\n\n" or "\n\r\n".
        let i = start + scanFrom;
        let hdrEnd = -1;
        for (;;) {
          const lf = data.indexOf(LF, i);
          if (lf === -1 || lf + 1 >= end) { i = lf === -1 ? end : lf; break; }
          const n1 = data[lf + 1]!;
          if (n1 === LF) { hdrEnd = lf + 2; break; }
          if (n1 === CR) {
            if (lf + 2 >= end) { i = lf; break; }
            if (data[lf + 2] === LF) { hdrEnd = lf + 3; break; }
          }
          i = lf + 1;
        }
        if (hdrEnd === -1) {
          if (end - start > max) return fail(out);
          scanFrom = i - start;
          return start;
        }
        const cl = contentLength(data, start, hdrEnd);
        total = hdrEnd - start + cl;
        if (total > max) return fail(out);
      }
      if (end - start < total) {
        return start;
      }
      const stop = start + total;
      out.push({ kind: 'message', bytes: view ? data.subarray(start, stop) : Buffer.from(data.subarray(start, stop)) });
      pos = stop;
      total = -1;
      scanFrom = 0;
      inMsg = false;
    }
    return pos;
  };

  const fail = (out: FramedItem[]): number => {
    out.push({ kind: 'error', reason: 'oversize' });
    dead = true;
    len = 0;
    store = Buffer.alloc(0);
    return -1;
  };

  return {
    get buffered() {
      return len;
    },
    push(chunk: Buffer): FramedItem[] {
      const out: FramedItem[] = [];
      if (dead || chunk.length === 0) return out;
      try {
        if (len === 0) {
          // Fast path: frame in place, keep only the incomplete tail.
          const rest = frame(chunk, 0, out, true);
          if (rest >= 0 && rest < chunk.length) {
            ensure(chunk.length - rest);
            chunk.copy(store, 0, rest);
            len = chunk.length - rest;
          }
          return out;
        }
        ensure(len + chunk.length);
        chunk.copy(store, len);
        len += chunk.length;
        const view = store.subarray(0, len);
        const rest = frame(view, 0, out, false);
        if (rest < 0) return out;
        if (rest >= len) len = 0;
        else if (rest > 0) {
          store.copy(store, 0, rest, len);
          len -= rest;
        }
        return out;
      } catch {
        // Defensive: framing must never crash a connection handler.
        dead = true;
        len = 0;
        out.push({ kind: 'error', reason: 'oversize' });
        return out;
      }
    },
  };
}

/** First Content-Length / `l` header in data[start, hdrEnd); missing or not a plain number → 0. */
function contentLength(data: Buffer, start: number, hdrEnd: number): number {
  let pos = data.indexOf(LF, start) + 1; // skip the start line
  if (pos <= 0) return 0;
  while (pos < hdrEnd) {
    let lf = data.indexOf(LF, pos);
    if (lf === -1 || lf >= hdrEnd) lf = hdrEnd;
    // Name: bytes up to ':' trimmed of SP/HT.
    let i = pos;
    while (i < lf && data[i] !== 0x3a) i++;
    if (i < lf) {
      let ne = i;
      while (ne > pos && (data[ne - 1] === 32 || data[ne - 1] === 9)) ne--;
      const nl = ne - pos;
      let match = false;
      if (nl === 1) match = (data[pos]! | 0x20) === 0x6c; // 'l'
      else if (nl === 14) match = asciiEqualsLower(data, pos, 'content-length');
      if (match) {
        let v = i + 1;
        while (v < lf && (data[v] === 32 || data[v] === 9)) v++;
        let n = 0;
        let digits = 0;
        while (v < lf && data[v]! >= 0x30 && data[v]! <= 0x39 && digits < 12) {
          n = n * 10 + (data[v]! - 0x30);
          v++;
          digits++;
        }
        return digits > 0 ? n : 0;
      }
    }
    pos = lf + 1;
  }
  return 0;
}

function asciiEqualsLower(data: Buffer, at: number, lower: string): boolean {
  for (let k = 0; k < lower.length; k++) if ((data[at + k]! | 0x20) !== lower.charCodeAt(k)) return false;
  return true;
}
