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

/** Yields the events of an event-stream body until it ends or `signal` aborts. */
export async function* parseSse(body: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncGenerator<SseEvent, void, undefined> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const onAbort = (): void => void reader.cancel().catch(() => undefined);
  signal?.addEventListener('abort', onAbort, { once: true });
  let buf = '';
  let event = '';
  let id: string | null = null;
  let data: string[] = [];
  let sawField = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let m: RegExpExecArray | null;
      const lineEnd = /\r\n|\r|\n/g;
      let start = 0;
      while ((m = lineEnd.exec(buf)) !== null) {
        // A lone CR at the end of the buffer may be the first half of CRLF: wait for more.
        if (m[0] === '\r' && m.index === buf.length - 1) break;
        const line = buf.slice(start, m.index);
        start = m.index + m[0].length;
        if (line === '') {
          if (sawField && data.length > 0) yield { event: event || 'message', id, data: data.join('\n') };
          event = '';
          id = null;
          data = [];
          sawField = false;
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? '' : line.slice(colon + 1);
        if (val.startsWith(' ')) val = val.slice(1);
        sawField = true;
        if (field === 'event') event = val;
        else if (field === 'data') data.push(val);
        else if (field === 'id' && !val.includes('\0')) id = val;
      }
      buf = buf.slice(start);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await reader.cancel().catch(() => undefined);
  }
}
