/**
 * The API's reader worker: owns read-only sqlite connections and runs every query and export off
 * the capture thread. Streams are pulled one chunk per `next`, so memory stays bounded whatever the row count.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ApiError, type FromWorker, type ToWorker, type WorkerInit, type WireError } from './protocol.js';
import { Queries, type OpenStream } from '../store/queries.js';

const init = workerData as WorkerInit;
const queries = new Queries(init.dbPath, init.allow, init.policy, { trustOpendht: init.trustOpendht });
if (init.excluded) queries.setExcluded(init.excluded);
const streams = new Map<number, OpenStream>();
const port = parentPort!;

function post(m: FromWorker): void {
  port.postMessage(m);
}

function wireError(err: unknown): WireError {
  if (err instanceof ApiError) return { status: err.status, message: err.message };
  return { status: 500, message: (err as Error)?.message ?? String(err) };
}

type Handler = (params: never) => unknown;
/** Operations answered with one result. */
const OPS: Record<string, Handler> = {
  ipExists: (p: { ip: string }) => queries.ipExists(p.ip),
  numberExists: (p: { raw: string; e164: string[] }) => queries.numberExists(p.raw, p.e164),
  userAgentExists: (p: { ua: string }) => queries.userAgentExists(p.ua),
  methodExists: (p: { method: string }) => queries.methodExists(p.method),
  countryExists: (p: { cc: string }) => queries.countryExists(p.cc),
  cityExists: (p: { cc: string; city: string }) => queries.cityExists(p.cc, p.city),
  events: (p: Parameters<Queries['events']>[0]) => queries.events(p),
  ipAddresses: (p: Parameters<Queries['ipAddresses']>[0]) => queries.ipAddresses(p),
  numbers: (p: Parameters<Queries['numbers']>[0]) => queries.numbers(p),
  credentials: (p: Parameters<Queries['credentials']>[0]) => queries.credentials(p),
  userAgents: (p: Parameters<Queries['userAgents']>[0]) => queries.userAgents(p),
  methods: () => queries.methods(),
  stats: (p: { hours: number; nowUs: number }) => queries.stats(p.hours, p.nowUs),
  overview: (p: { nowUs: number; limit: number }) => queries.overview(p.nowUs, p.limit),
  // Serialised here: a string crosses to the main thread without the structured clone of a nested object, and the
  // main thread (which also serves every other request) does no JSON work for the call-check.
  check: (p: { query: Parameters<Queries['check']>[0]; nowUs: number }) => JSON.stringify(queries.check(p.query, p.nowUs)),
  apiban: (p: { after: string | null; windowStartUs: number; verified: boolean }) => queries.apiban(p.after, p.windowStartUs, p.verified),
};

/** Operations answered with a stream. */
const STREAMS: Record<string, (params: never) => OpenStream> = {
  compatList: (p: { kind: 'ip' | 'number' | 'ua' | 'method' | 'country' }) => queries.openCompatList(p.kind),
  ipset: (p: { family: 4 | 6 | null }) => queries.openIpset(p.family),
  blocklist: (p: { query: Parameters<Queries['openBlocklist']>[0]; nowUs: number }) => queries.openBlocklist(p.query, p.nowUs),
};

port.on('message', (m: ToWorker) => {
  switch (m.kind) {
    case 'query': {
      const op = OPS[m.op];
      try {
        if (!op) throw new ApiError(500, `unknown op ${m.op}`);
        post({ kind: 'result', id: m.id, result: op(m.params as never) });
      } catch (err) {
        post({ kind: 'error', id: m.id, error: wireError(err) });
      }
      return;
    }
    case 'open': {
      const op = STREAMS[m.op];
      try {
        if (!op) throw new ApiError(500, `unknown stream ${m.op}`);
        const s = op(m.params as never);
        streams.set(m.id, s);
        post({ kind: 'head', id: m.id, head: s.head });
      } catch (err) {
        post({ kind: 'error', id: m.id, error: wireError(err) });
      }
      return;
    }
    case 'next': {
      const s = streams.get(m.id);
      if (!s) {
        post({ kind: 'chunk', id: m.id, chunk: null });
        return;
      }
      try {
        const r = s.chunks.next();
        if (r.done) {
          streams.delete(m.id);
          s.close();
          post({ kind: 'chunk', id: m.id, chunk: null });
        } else post({ kind: 'chunk', id: m.id, chunk: r.value });
      } catch (err) {
        streams.delete(m.id);
        s.close();
        post({ kind: 'error', id: m.id, error: wireError(err) });
      }
      return;
    }
    case 'exclusions':
      queries.setExcluded(m.lists);
      return;
    case 'close': {
      const s = streams.get(m.id);
      if (s) {
        streams.delete(m.id);
        s.close();
      }
      return;
    }
  }
});

port.on('close', () => {
  for (const s of streams.values()) s.close();
  queries.close();
});
