/**
 * A Server-Sent-Events parser (the WHATWG event-stream format): bytes in, one {@link SseEvent} per blank-line
 * terminated block out. Comment lines (`: keep-alive`) are skipped; `data:` lines of one event are joined with
 * newlines; CR, LF and CRLF all end a line.
 */

/** One server-sent event. */
export interface SseEvent {
  /** `event:` field, or `message` when absent. */
  event: string;
  /** `id:` field of this event, or null. */
  id: string | null;
  /** The `data:` lines joined by `\n`. */
  data: string;
}

/**
 * Incremental event-stream decoder: text in (any split), complete events out. Used by the client's iterator and by
 * the BGP feed, which hands each network chunk's events to its table as one batch.
 */
export class SseDecoder {
  private buf = '';
  private event = '';
  private id: string | null = null;
  private data: string[] = [];
  private sawField = false;

  /** Adds decoded text; returns the events it completed, in order. */
  push(text: string): SseEvent[] {
    const out: SseEvent[] = [];
    this.buf += text;
    const buf = this.buf;
    const lineEnd = /\r\n|\r|\n/g;
    let start = 0;
    let m: RegExpExecArray | null;
    while ((m = lineEnd.exec(buf)) !== null) {
      // A lone CR at the end of the buffer may be the first half of CRLF: wait for more.
      if (m[0] === '\r' && m.index === buf.length - 1) break;
      const line = buf.slice(start, m.index);
      start = m.index + m[0].length;
      if (line === '') {
        if (this.sawField && this.data.length > 0) out.push({ event: this.event || 'message', id: this.id, data: this.data.join('\n') });
        this.event = '';
        this.id = null;
        this.data = [];
        this.sawField = false;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? '' : line.slice(colon + 1);
      if (val.startsWith(' ')) val = val.slice(1);
      this.sawField = true;
      if (field === 'event') this.event = val;
      else if (field === 'data') this.data.push(val);
      else if (field === 'id' && !val.includes('\0')) this.id = val;
    }
    this.buf = buf.slice(start);
    return out;
  }
}

/** Yields the events of an event-stream body until it ends or `signal` aborts. */
export async function* parseSse(body: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncGenerator<SseEvent, void, undefined> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const onAbort = (): void => void reader.cancel().catch(() => undefined);
  signal?.addEventListener('abort', onAbort, { once: true });
  const decoder = new SseDecoder();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      yield* decoder.push(value);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await reader.cancel().catch(() => undefined);
  }
}
