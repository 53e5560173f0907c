/**
 * Main-thread side of the reader worker: promises for single results, pull-based Readable streams for big
 * bodies (one chunk in flight per stream, so a slow client never makes the worker buffer).
 */
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { ApiError, type ExcludedLists, type ReaderProtocol, type StreamHead, type WorkerInit } from './protocol.js';
import { RpcClient, RpcError } from '../rpc/index.js';

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

/** An error from the worker channel as the API's error (its status carried, or the one its code stands for). */
function apiError(err: unknown): Error {
  return err instanceof RpcError ? ApiError.from(err) : (err as Error);
}

type Method = keyof ReaderProtocol['calls'] & string;
type StreamMethod = keyof ReaderProtocol['streams'] & string;

/** Starts the reader worker for `init.dbPath`. */
export function createReader(init: WorkerInit & { onError?: (err: Error) => void }): Reader {
  let client: RpcClient<ReaderProtocol> | null = null;
  let closed = false;
  let excluded: ExcludedLists | undefined = init.excluded;
  /** Bodies not yet ended, so shutdown can fail them. */
  const bodies = new Set<Readable>();

  /** The live worker, started on first use and again after it exited (its pending calls failed with SW_WORKER_EXITED). */
  function ensure(): RpcClient<ReaderProtocol> {
    if (closed) throw new ApiError(503, 'API is shutting down');
    if (client?.alive) return client;
    const w = spawnWorker({ dbPath: init.dbPath, allow: init.allow, excluded, policy: init.policy, trustOpendht: init.trustOpendht });
    w.on('error', (err) => init.onError?.(err));
    const c = new RpcClient<ReaderProtocol>(w);
    client = c;
    return c;
  }

  return {
    async query<T>(op: string, params?: unknown): Promise<T> {
      try {
        return (await ensure().call(op as Method, params as never)) as T;
      } catch (err) {
        throw apiError(err);
      }
    },

    async open(op: string, params: unknown) {
      let stream;
      try {
        stream = await ensure().open(op as StreamMethod, params as never);
      } catch (err) {
        throw apiError(err);
      }
      const s = stream;
      let inFlight = false;
      const body = new Readable({
        highWaterMark: 1, // objects are chunks of ~64 KiB; one buffered is enough
        objectMode: false,
        read() {
          if (inFlight) return;
          inFlight = true;
          s.next().then(
            (r) => {
              inFlight = false;
              if (r.done) {
                bodies.delete(body);
                body.push(null);
              } else body.push(r.value); // the stream calls read() again when it wants the next chunk
            },
            (err: unknown) => {
              inFlight = false;
              body.destroy(apiError(err));
            },
          );
        },
        destroy(err, cb) {
          bodies.delete(body);
          s.close();
          cb(err);
        },
      });
      bodies.add(body);
      return { head: s.head as StreamHead, body };
    },

    openStreams: () => client?.streamCount ?? 0,

    setExcluded(lists) {
      excluded = lists;
      // A worker that is gone drops the message; the next one starts with the lists.
      if (client?.alive) client.notify('exclusions', lists);
    },

    async close() {
      if (closed) return;
      closed = true;
      const c = client;
      client = null;
      for (const b of bodies) b.destroy(new ApiError(503, 'API is shutting down'));
      bodies.clear();
      if (c) await c.terminate();
    },
  };
}
