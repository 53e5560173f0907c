/** Unit-test harness for the responder: parsed requests, a recording ReplyChannel, a fresh metrics registry. */
import assert from 'node:assert/strict';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import type { ProfileName } from '../../src/config/types.js';
import { createResponder, type ResponderInit } from '../../src/sip/responder/index.js';
import type { InboundRequest, ReplyChannel, Responder, ResponderOutcome } from '../../src/sip/responder/types.js';
import { parseSipMessage } from '../../src/sip/wire/parse.js';
import type { SipRequest } from '../../src/sip/wire/types.js';
import type { Transport } from '../../src/events/event.js';

export const SOURCE = { ip: '127.0.0.1', port: 40000 };
export const LOCAL = { ip: '127.0.0.1', port: 5060 };

export interface Recorder extends ReplyChannel {
  sent: Buffer[];
  texts(): string[];
  open: boolean;
}

export function recorder(): Recorder {
  const sent: Buffer[] = [];
  return {
    sent,
    open: true,
    send(b: Buffer) {
      sent.push(b);
    },
    texts: () => sent.map((b) => b.toString('utf8')),
  };
}

export function parse(text: string): SipRequest {
  const r = parseSipMessage(Buffer.from(text, 'utf8'));
  assert.ok(r.ok, `request parses: ${JSON.stringify(text.slice(0, 80))}`);
  return r.msg;
}

let seq = 0;
/** A request with unique branch/Call-ID unless given; `lines` override or add headers (`Name: value`, or `-Name` to drop). */
export function request(method: string, opts: { ruri?: string; user?: string; headers?: string[]; branch?: string; callId?: string; cseq?: number } = {}): string {
  seq++;
  const user = opts.user ?? '100';
  const base: Array<[string, string]> = [
    ['Via', `SIP/2.0/UDP 198.51.100.23:5099;branch=${opts.branch ?? `z9hG4bK-t${seq}`};rport`],
    ['From', `"probe" <sip:probe@198.51.100.23>;tag=f${seq}`],
    ['To', `<sip:${user}@127.0.0.1>`],
    ['Call-ID', opts.callId ?? `call-${seq}@test`],
    ['CSeq', `${opts.cseq ?? 1} ${method}`],
    ['Max-Forwards', '70'],
  ];
  for (const h of opts.headers ?? []) {
    if (h.startsWith('-')) {
      const name = h.slice(1).toLowerCase();
      for (let i = base.length - 1; i >= 0; i--) if (base[i]![0].toLowerCase() === name) base.splice(i, 1);
      continue;
    }
    const c = h.indexOf(':');
    const name = h.slice(0, c);
    const value = h.slice(c + 1).trim();
    const i = base.findIndex(([n]) => n.toLowerCase() === name.toLowerCase());
    if (i >= 0 && ['via', 'from', 'to', 'call-id', 'cseq'].includes(name.toLowerCase())) base[i] = [name, value];
    else base.push([name, value]);
  }
  const ruri = opts.ruri ?? `sip:${user}@127.0.0.1`;
  return `${method} ${ruri} SIP/2.0\r\n${base.map(([n, v]) => `${n}: ${v}`).join('\r\n')}\r\nContent-Length: 0\r\n\r\n`;
}

export interface Harness {
  responder: Responder;
  metrics: Metrics;
  clock: { t: number };
  send(text: string | SipRequest, opts?: { source?: { ip: string; port: number }; transport?: Transport; reply?: Recorder; retransmission?: boolean; local?: { ip: string; port: number } }): { outcome: ResponderOutcome; reply: Recorder };
}

export function harness(profile: ProfileName = 'freepbx', over: Partial<ResponderInit> = {}): Harness {
  const metrics = new Metrics({ processMetrics: false });
  const clock = { t: over.now ? over.now() : Date.now() };
  const responder = createResponder({
    profile,
    decoyExtensions: '100-199',
    decoyPassword: null,
    redirectUri: null,
    serverHeader: null,
    replyRateLimit: 50,
    // The conversations under test are RFC 3261's; the reflection bound on unverified UDP sources has its own
    // tests (test/hardening/reflection.test.ts) with the production default.
    reflectionFactor: 0,
    metrics,
    logger: createLogger('silent'),
    now: over.now ?? (() => Date.now()),
    ...over,
  });
  void responder.start();
  return {
    responder,
    metrics,
    clock,
    send(text, opts = {}) {
      const msg = typeof text === 'string' ? parse(text) : text;
      const reply = opts.reply ?? recorder();
      const req: InboundRequest = {
        msg,
        transport: opts.transport ?? 'UDP',
        source: opts.source ?? SOURCE,
        local: opts.local ?? LOCAL,
        receivedAtUs: Date.now() * 1000,
        retransmission: opts.retransmission ?? false,
      };
      return { outcome: responder.handle(req, reply), reply };
    },
  };
}

export async function counter(c: { get(): Promise<{ values: Array<{ value: number; labels: Partial<Record<string, string | number>> }> }> }, labels: Record<string, string> = {}): Promise<number> {
  const v = await c.get();
  return v.values
    .filter((x) => Object.entries(labels).every(([k, val]) => String(x.labels[k]) === val))
    .reduce((a, x) => a + x.value, 0);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Checks the responder rules response shape and returns its header lines by name. */
export function wellFormed(text: string): { status: number; headers: Array<[string, string]> } {
  assert.ok(text.endsWith('\r\n\r\n'), 'ends with an empty line');
  const lines = text.slice(0, -4).split('\r\n');
  const m = /^SIP\/2\.0 (\d{3}) [A-Za-z ]+$/.exec(lines[0]!);
  assert.ok(m, `status line: ${lines[0]}`);
  const headers: Array<[string, string]> = [];
  for (const l of lines.slice(1)) {
    const c = l.indexOf(': ');
    assert.ok(c > 0, `header line: ${JSON.stringify(l)}`);
    assert.ok(!/[\r\n\0]/.test(l));
    headers.push([l.slice(0, c), l.slice(c + 2)]);
  }
  const names = headers.map(([n]) => n);
  const firstNonVia = names.findIndex((n) => n !== 'Via');
  assert.ok(firstNonVia >= 1, 'Vias first');
  assert.deepEqual(names.slice(firstNonVia, firstNonVia + 4), ['From', 'To', 'Call-ID', 'CSeq']);
  assert.equal(names.at(-2), 'Server');
  assert.deepEqual(headers.at(-1), ['Content-Length', '0']);
  return { status: Number(m[1]), headers };
}
