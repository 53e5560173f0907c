/**
 * Main-thread side of the reader worker: promises for single results, pull-based Readable streams for big
 * bodies (one chunk in flight per stream, so a slow client never makes the worker buffer).
 */
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { ApiError, type ExcludedLists, type FromWorker, type StreamHead, type ToWorker, type WorkerInit } from './protocol.js';

/** The API's handle on its reader worker. */
export interface Reader {
  /** Runs one query op in the worker. Rejects with ApiError (status from the worker) on failure. */
  query<T>(op: string, params?: unknown): Promise<T>;
  /** Opens a stream op: resolves the head, then the body is pulled chunk by chunk through `body`. */
  open(op: string, params: unknown): Promise<{ head: StreamHead; body: Readable }>;
  /** Streams currently open. */
  openStreams(): number;
  /** Replaces the changing never-exported lists (kept across worker restarts). */
  setExcluded(lists: ExcludedLists): void;
  /** Terminates the worker; pending calls reject. Idempotent. */
  close(): Promise<void>;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/** Starts the worker module next to this one (`.js` in dist/; `.ts` under tsx, whose loader it registers first). */
function spawnWorker(data: WorkerInit): Worker {
  const self = import.meta.url;
  if (self.endsWith('.ts')) {
    const url = new URL('./worker.ts', self).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    return new Worker(
      `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); });`,
      { eval: true, workerData: data, name: 'sipwarden-api-reader' },
    );
  }
  return new Worker(new URL('./worker.js', self), { workerData: data, name: 'sipwarden-api-reader' });
}

/** Starts the reader worker for `init.dbPath`. */
export function createReader(init: WorkerInit & { onError?: (err: Error) => void }): Reader {
  let worker: Worker | null = null;
  let closed = false;
  let nextId = 1;
  const pending = new Map<number, Pending>();
  /** Stream id → handler of its chunks. */
  const chunkHandlers = new Map<number, (m: FromWorker) => void>();
  let excluded: ExcludedLists | undefined = init.excluded;

  function failAll(err: Error): void {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    for (const h of chunkHandlers.values()) h({ kind: 'error', id: 0, error: { status: 503, message: err.message } });
    chunkHandlers.clear();
  }

  function ensure(): Worker {
    if (closed) throw new ApiError(503, 'API is shutting down');
    if (worker) return worker;
    const w = spawnWorker({ dbPath: init.dbPath, allow: init.allow, excluded, policy: init.policy, trustOpendht: init.trustOpendht });
    w.on('message', (m: FromWorker) => {
      const h = chunkHandlers.get(m.id);
      if (h && (m.kind === 'chunk' || (m.kind === 'error' && !pending.has(m.id)))) {
        h(m);
        return;
      }
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.kind === 'error') p.reject(new ApiError(m.error.status, m.error.message));
      else if (m.kind === 'result') p.resolve(m.result);
      else if (m.kind === 'head') p.resolve(m.head);
    });
    w.on('error', (err) => {
      init.onError?.(err);
      if (worker === w) worker = null;
      failAll(new ApiError(503, 'reader worker failed'));
    });
    w.on('exit', () => {
      if (worker === w) worker = null;
      failAll(new ApiError(503, 'reader worker exited'));
    });
    worker = w;
    return w;
  }

  function send(m: ToWorker): void {
    ensure().postMessage(m);
  }

  function call<T>(m: Extract<ToWorker, { id: number }>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      try {
        pending.set(m.id, { resolve: resolve as (v: unknown) => void, reject });
        send(m);
      } catch (err) {
        pending.delete(m.id);
        reject(err as Error);
      }
    });
  }

  return {
    query<T>(op: string, params?: unknown): Promise<T> {
      return call<T>({ kind: 'query', id: nextId++, op, params });
    },

    async open(op: string, params: unknown) {
      const id = nextId++;
      const head = await call<StreamHead>({ kind: 'open', id, op, params });
      let inFlight = false;
      let done = false;
      const body = new Readable({
        highWaterMark: 1, // objects are chunks of ~64 KiB; one buffered is enough
        objectMode: false,
        read() {
          if (inFlight || done) return;
          inFlight = true;
          try {
            send({ kind: 'next', id });
          } catch (err) {
            this.destroy(err as Error);
          }
        },
        destroy(err, cb) {
          if (!done) {
            done = true;
            chunkHandlers.delete(id);
            try {
              worker?.postMessage({ kind: 'close', id } satisfies ToWorker);
            } catch {
              /* worker gone */
            }
          }
          cb(err);
        },
      });
      chunkHandlers.set(id, (m) => {
        inFlight = false;
        if (m.kind === 'error') {
          done = true;
          chunkHandlers.delete(id);
          body.destroy(new ApiError(m.error.status, m.error.message));
        } else if (m.kind === 'chunk') {
          if (m.chunk === null) {
            done = true;
            chunkHandlers.delete(id);
            body.push(null);
          } else body.push(m.chunk); // the stream calls read() again when it wants the next chunk
        }
      });
      return { head, body };
    },

    openStreams: () => chunkHandlers.size,

    setExcluded(lists) {
      excluded = lists;
      try {
        worker?.postMessage({ kind: 'exclusions', lists } satisfies ToWorker);
      } catch {
        /* worker gone: the next one starts with the lists */
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      const w = worker;
      worker = null;
      failAll(new ApiError(503, 'API is shutting down'));
      if (w) await w.terminate();
    },
  };
}
