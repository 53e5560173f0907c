/** The client's event-stream parser (pure): fields, comments, multi-line data, line endings, any chunking. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseSse, type SseEvent } from '../../src/client/sse.js';
import { retryAfterMs } from '../../src/client/index.js';

function body(chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(enc.encode(ch));
      c.close();
    },
  });
}

async function all(chunks: string[]): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const e of parseSse(body(chunks))) out.push(e);
  return out;
}

const SAMPLE = ': keep-alive\n\nevent: snapshot\ndata: {"seq":3}\n\nevent: entry\r\ndata: a\r\ndata: b\r\n\r\nid: 7\ndata:x\n\nevent: empty\n\ndata: last';

test('fields, comments, joined data lines, CRLF, default event name; an unterminated block is not dispatched', async () => {
  assert.deepEqual(await all([SAMPLE]), [
    { event: 'snapshot', id: null, data: '{"seq":3}' },
    { event: 'entry', id: null, data: 'a\nb' },
    { event: 'message', id: '7', data: 'x' },
  ]);
});

test('any split of the bytes yields the same events', async () => {
  const whole = await all([SAMPLE]);
  await fc.assert(fc.asyncProperty(fc.array(fc.integer({ min: 0, max: SAMPLE.length }), { maxLength: 8 }), async (cuts) => {
    const at = [...new Set(cuts)].sort((a, b) => a - b);
    const parts: string[] = [];
    let prev = 0;
    for (const c of at) {
      parts.push(SAMPLE.slice(prev, c));
      prev = c;
    }
    parts.push(SAMPLE.slice(prev));
    assert.deepEqual(await all(parts), whole);
  }), { numRuns: 200 });
});

test('Retry-After: seconds, an HTTP date, junk', () => {
  assert.equal(retryAfterMs('3'), 3000);
  assert.equal(retryAfterMs(new Date(10_000).toUTCString(), 4000), 6000);
  assert.equal(retryAfterMs('soon'), null);
  assert.equal(retryAfterMs(null), null);
});
