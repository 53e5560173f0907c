// Table-driven check of every recorded SIP fixture (test/fixtures/sip/manifest.json), every hand-made edge case and
// every TCP stream against the parser, extractor and framer.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { parseSipMessage } from '../../src/sip/wire/parse.js';
import { extractFields } from '../../src/sip/wire/extract.js';
import { getHeader } from '../../src/sip/wire/headers.js';
import { createStreamFramer, type FramedItem } from '../../src/sip/wire/framer.js';
import type { MalformedReason } from '../../src/sip/wire/types.js';
import { EDGE_CASES, EDGE_STREAM } from '../helpers/sip-edge-cases.js';
import { FIXTURES, loadManifest, readFixture } from '../helpers/sip-fixtures.js';

interface MessageExpect {
  kind: string;
  method: string | null;
  requestUriUser: string | null;
  toUser: string | null;
  userAgent: string | null;
  callIdPresent: boolean | null;
  expected: 'capture' | 'capture-partial' | 'ignore-no-crash';
  sha256?: string;
}
interface Entry extends MessageExpect {
  file: string;
  transport?: string;
  size: number;
  sha256: string;
  chunksFile?: string;
  chunks?: { offset: number; length: number }[];
  messages?: (MessageExpect & { offset: number; length: number })[];
}

const manifest = loadManifest<Entry>();
const read = readFixture;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The stored user_agent form, computed independently of the implementation. */
function storedUa(raw: string | null): string {
  if (raw === null || raw.trim() === '') return 'NOT_FOUND';
  let out = '';
  for (const ch of raw) {
    const c = ch.codePointAt(0)!;
    out += c < 0x20 || c === 0x7f ? '\\x' + c.toString(16).padStart(2, '0') : ch;
  }
  return out;
}

/** Malformed reasons acceptable for a manifest kind that must be ignored. */
const IGNORE_REASONS: Record<string, MalformedReason[]> = {
  response: ['response'],
  empty: ['empty'],
  keepalive: ['empty'],
  garbage: ['not_sip'],
  'non-sip': ['not_sip'],
  'malformed-request': ['not_sip', 'truncated'],
  truncated: ['truncated', 'not_sip'],
  request: ['not_sip', 'truncated'],
};

/** Checks one message (a .sip file or a framed stream message) against its manifest fields. */
function checkMessage(label: string, bytes: Buffer, e: MessageExpect): void {
  const r = parseSipMessage(bytes);
  if (e.expected === 'ignore-no-crash') {
    assert.equal(r.ok, false, `${label}: must not be recorded`);
    if (!r.ok) assert.ok((IGNORE_REASONS[e.kind] ?? ['not_sip']).includes(r.reason), `${label}: reason ${r.reason}`);
    return;
  }
  assert.equal(r.ok, true, `${label}: must parse as a request`);
  if (!r.ok) return;
  const f = extractFields(r.msg);
  assert.equal(r.msg.method, e.method, `${label}: method`);
  assert.equal(f.requestUriUser, e.requestUriUser, `${label}: requestUriUser`);
  assert.equal(f.toUser, e.toUser, `${label}: toUser`);
  assert.equal(getHeader(r.msg, 'user-agent'), e.userAgent, `${label}: raw userAgent`);
  assert.equal(f.userAgent, storedUa(e.userAgent), `${label}: stored user_agent`);
  assert.equal(f.callId !== null, e.callIdPresent, `${label}: callIdPresent`);
  assert.equal(r.msg.raw, bytes, `${label}: raw bytes kept`);
  // The stored user agent can never carry a control character.
  assert.ok(!/[\x00-\x1f\x7f]/.test(f.userAgent), `${label}: escaped user_agent`);
}

describe('fixture manifest', () => {
  test('manifest is complete: every scanner was recorded', () => {
    assert.equal(manifest.entries.length, manifest.count);
    assert.ok(manifest.entries.length >= 45, String(manifest.entries.length));
    const sources = (manifest.entries as (Entry & { source: string })[]).map((e) => e.source);
    for (const tool of ['svmap', 'svwar', 'svcrack', 'sipsak', 'SIPp', 'nmap']) {
      assert.ok(sources.some((s) => s.includes(tool)), `${tool} recorded`);
    }
    assert.ok(manifest.entries.some((e) => e.transport === 'tcp' && e.kind === 'request'), 'a TCP request');
    assert.ok(manifest.entries.some((e) => (e as Entry & { ipVersion: number }).ipVersion === 6), 'an IPv6 request');
  });

  for (const e of manifest.entries) {
    if (e.kind === 'tcp-stream') continue;
    test(e.file, () => {
      const bytes = read(e.file);
      assert.equal(bytes.length, e.size, 'size');
      assert.equal(sha256(bytes), e.sha256, 'sha256');
      checkMessage(e.file, bytes, e);
    });
  }
});

describe('hand-made edge cases', () => {
  test('every class of edge case is present', () => {
    assert.ok(EDGE_CASES.length >= 40, String(EDGE_CASES.length));
    for (const kind of ['request', 'response', 'keepalive', 'empty', 'garbage', 'non-sip']) {
      assert.ok(EDGE_CASES.some((e) => e.kind === kind), kind);
    }
    for (const exp of ['capture', 'capture-partial', 'ignore-no-crash']) assert.ok(EDGE_CASES.some((e) => e.expected === exp), exp);
    assert.ok(EDGE_CASES.some((e) => !isUtf8(e.bytes)), 'invalid UTF-8');
    assert.ok(EDGE_CASES.some((e) => e.bytes.length > 60_000), 'near-maximal datagram');
    assert.equal(new Set(EDGE_CASES.map((e) => e.file)).size, EDGE_CASES.length, 'unique names');
  });
  for (const e of EDGE_CASES) test(e.file, () => checkMessage(e.file, e.bytes, e));
});

describe('TCP streams', () => {
  const recorded = manifest.entries.filter((e) => e.kind === 'tcp-stream');
  const streams: (Entry & { data?: Buffer })[] = [
    ...recorded,
    { ...EDGE_STREAM, method: null, requestUriUser: null, toUser: null, userAgent: null, callIdPresent: null, expected: 'capture',
      size: EDGE_STREAM.data.length, sha256: sha256(EDGE_STREAM.data) },
  ];
  test('there are stream fixtures', () => assert.ok(recorded.length >= 1 && streams.length >= 2));

  for (const e of streams) {
    const data = e.data ?? read(e.file);
    const chunks = e.chunks ?? [];
    const expected = e.messages ?? [];

    /** Feeds `parts` and checks the items against the manifest's message list. */
    const run = (mode: string, parts: Buffer[]): void => {
      const framer = createStreamFramer({ maxMessageBytes: 65_535 });
      const items: FramedItem[] = [];
      for (const p of parts) items.push(...framer.push(p));
      assert.equal(items.length, expected.length, `${mode}: item count`);
      expected.forEach((m, k) => {
        const it = items[k]!;
        const label = `${e.file} ${mode} #${k}`;
        if (m.kind === 'keepalive') {
          assert.equal(it.kind, 'keepalive', label);
          if (it.kind === 'keepalive') assert.equal(it.pong, data.subarray(m.offset, m.offset + m.length).includes('\r\n\r\n'));
          return;
        }
        assert.equal(it.kind, 'message', label);
        if (it.kind !== 'message') return;
        assert.deepEqual(it.bytes, data.subarray(m.offset, m.offset + m.length), `${label}: bytes`);
        if (m.sha256 !== undefined) assert.equal(sha256(it.bytes), m.sha256, `${label}: sha256`);
        checkMessage(label, it.bytes, m);
      });
      assert.equal(framer.buffered, 0, `${mode}: nothing left over`);
    };

    test(`${e.file}: integrity and chunk map`, () => {
      assert.equal(data.length, e.size);
      assert.equal(sha256(data), e.sha256);
      assert.ok(chunks.length > 0);
      assert.equal(chunks.reduce((n, c) => n + c.length, 0), data.length);
      assert.ok(expected.length > 0);
      // The sidecar file agrees with the manifest.
      if (e.chunksFile === undefined) return;
      const side = JSON.parse(readFileSync(new URL(e.chunksFile!, FIXTURES), 'utf8')) as { chunks: unknown };
      assert.deepEqual(side.chunks, chunks);
    });
    test(`${e.file}: fed per captured segment`, () => {
      run('chunks', chunks.map((c) => data.subarray(c.offset, c.offset + c.length)));
    });
    test(`${e.file}: fed byte by byte`, () => {
      const parts: Buffer[] = [];
      for (let i = 0; i < data.length; i++) parts.push(data.subarray(i, i + 1));
      run('bytes', parts);
    });
    test(`${e.file}: fed as one buffer`, () => run('whole', [data]));
  }
});
