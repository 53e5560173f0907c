/**
 * Typed messaging between a main thread and one worker thread: requests answered by method name, pull-based
 * streams (one chunk in flight per stream, so neither side buffers a big list), one-way notifications both ways,
 * and errors that cross the boundary with their stable catalogue code. Both sides share one {@link Protocol} type,
 * so a method's parameters and result are checked at compile time on each end.
 *
 * This module imports nothing from service folders: it is the one place that knows the wire format.
 */
import type { MessagePort, Transferable, Worker } from 'node:worker_threads';
import { ERROR_CODES, SipwardenError, type ErrorCode } from '../errors.js';

/** One request/response method: what the caller sends and what the worker answers. */
export interface CallSpec {
  params: unknown;
  result: unknown;
}

/** One stream method: the head answers the open; chunks are pulled one at a time until the end. */
export interface StreamSpec {
  params: unknown;
  head: unknown;
  chunk: unknown;
}

/** The method map shared by both sides of one worker. */
export interface Protocol {
  calls: Record<string, CallSpec>;
  streams: Record<string, StreamSpec>;
  /** One-way messages main → worker. */
  toWorker: Record<string, unknown>;
  /** One-way messages worker → main. */
  fromWorker: Record<string, unknown>;
}

/** An error that crossed the worker boundary (or was raised by the channel itself), with its catalogue code. */
export class RpcError extends SipwardenError {
  /** Structured-clone-safe details the thrower attached (e.g. an HTTP status). */
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message);
    this.name = 'RpcError';
    this.details = details;
  }
}

/** The wire form of an error: code, message and the thrower's details. */
export interface WireError {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/** A value to send together with a transfer list (ArrayBuffers moved, not copied). */
export class Transfer<T> {
  constructor(
    readonly value: T,
    readonly list: readonly Transferable[],
  ) {}
}

/** Marks a handler's result (or a stream chunk) to be sent with `list` transferred. */
export function transfer<T>(value: T, list: readonly Transferable[]): Transfer<T> {
  return new Transfer(value, list);
}

type Maybe<T> = T | Transfer<T>;

/** Main → worker on the wire. */
type Down =
  | { t: 'call'; id: number; m: string; p: unknown }
  | { t: 'open'; id: number; m: string; p: unknown }
  | { t: 'next'; id: number }
  | { t: 'close'; id: number }
  | { t: 'note'; m: string; p: unknown };

/** Worker → main on the wire. `chunk` with `end` closes the stream (no value). */
type Up =
  | { t: 'ok'; id: number; r: unknown }
  | { t: 'err'; id: number; e: WireError }
  | { t: 'head'; id: number; h: unknown }
  | { t: 'chunk'; id: number; c: unknown; end: boolean }
  | { t: 'note'; m: string; p: unknown };

const KNOWN_CODES: ReadonlySet<string> = new Set(Object.values(ERROR_CODES));

/**
 * The wire form of any thrown value. A `code` from the catalogue is kept; anything else becomes `SW_INTERNAL`.
 * A `details` object (or an `httpStatus`/`status` number) is carried along so the caller can rebuild its own class.
 */
export function toWireError(err: unknown): WireError {
  const e = err as { code?: unknown; message?: unknown; details?: unknown; status?: unknown } | null;
  const code = typeof e?.code === 'string' && KNOWN_CODES.has(e.code) ? (e.code as ErrorCode) : ERROR_CODES.INTERNAL;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  let details: Record<string, unknown> | undefined;
  if (e && typeof e.details === 'object' && e.details !== null) details = { ...(e.details as Record<string, unknown>) };
  if (e && typeof e.status === 'number') details = { ...details, status: e.status };
  return details ? { code, message, details } : { code, message };
}

function wireToError(w: WireError): RpcError {
  return new RpcError(w.code, w.message, w.details);
}

type Settle = { resolve(v: unknown): void; reject(e: Error): void };
type ChunkWaiter = Settle & { id: number };

/** The main thread's end of a stream: pull chunks with `next()` (`undefined` at the end), `close()` early. */
export interface StreamReader<H, C> {
  readonly head: H;
  next(): Promise<{ done: false; value: C } | { done: true }>;
  close(): void;
}

/** Options of {@link RpcClient}. */
export interface ClientOptions<P extends Protocol> {
  /** Worker → main one-way messages. */
  notes?: { [N in keyof P['fromWorker']]?: (payload: P['fromWorker'][N]) => void };
}

/**
 * The main thread's handle on one worker. When the worker exits or crashes, every pending call and stream
 * rejects with `SW_WORKER_EXITED`, and later calls reject the same way.
 */
export class RpcClient<P extends Protocol> {
  private nextId = 1;
  private readonly pending = new Map<number, Settle>();
  private readonly chunkWaiters = new Map<number, ChunkWaiter>();
  private readonly openStreams = new Set<number>();
  private dead: RpcError | null = null;
  /** Resolves once the worker has exited (for any reason). */
  readonly exited: Promise<void>;

  constructor(
    readonly worker: Worker,
    private readonly opts: ClientOptions<P> = {},
  ) {
    let onExit!: () => void;
    this.exited = new Promise((r) => (onExit = r));
    worker.on('message', (m: Up) => this.onMessage(m));
    worker.on('error', (err) => this.fail(new RpcError(ERROR_CODES.WORKER_EXITED, `worker failed: ${err.message}`)));
    worker.on('exit', (code) => {
      this.fail(new RpcError(ERROR_CODES.WORKER_EXITED, `worker exited (code ${code})`));
      onExit();
    });
  }

  /** True until the worker exits or crashes. */
  get alive(): boolean {
    return this.dead === null;
  }

  /** Streams opened and not yet ended or closed. */
  get streamCount(): number {
    return this.openStreams.size;
  }

  /** Calls `method` in the worker. Rejects with an {@link RpcError} carrying the thrower's code. */
  call<M extends keyof P['calls'] & string>(
    method: M,
    params: P['calls'][M]['params'],
    transferList?: readonly Transferable[],
  ): Promise<P['calls'][M]['result']> {
    return this.request({ t: 'call', id: this.nextId++, m: method, p: params }, transferList) as Promise<P['calls'][M]['result']>;
  }

  /** Opens a stream: resolves once the worker answered its head; pull the body with `next()`. */
  async open<M extends keyof P['streams'] & string>(
    method: M,
    params: P['streams'][M]['params'],
  ): Promise<StreamReader<P['streams'][M]['head'], P['streams'][M]['chunk']>> {
    const id = this.nextId++;
    const head = (await this.request({ t: 'open', id, m: method, p: params })) as P['streams'][M]['head'];
    this.openStreams.add(id);
    let ended = false;
    const end = (): void => {
      ended = true;
      this.openStreams.delete(id);
    };
    return {
      head,
      next: () => {
        if (ended) return Promise.resolve({ done: true as const });
        if (this.chunkWaiters.has(id)) return Promise.reject(new RpcError(ERROR_CODES.INTERNAL, 'next() while a chunk is in flight'));
        if (this.dead) {
          end();
          return Promise.reject(this.dead);
        }
        return new Promise<{ done: false; value: P['streams'][M]['chunk'] } | { done: true }>((resolve, reject) => {
          this.chunkWaiters.set(id, {
            id,
            resolve: (v) => {
              const u = v as { c: unknown; end: boolean };
              if (u.end) {
                end();
                resolve({ done: true });
              } else resolve({ done: false, value: u.c as P['streams'][M]['chunk'] });
            },
            reject: (e) => {
              end();
              reject(e);
            },
          });
          this.post({ t: 'next', id });
        });
      },
      close: () => {
        if (ended) return;
        end();
        if (!this.dead) this.post({ t: 'close', id });
      },
    };
  }

  /** Sends a one-way message to the worker (dropped silently once the worker is gone). */
  notify<N extends keyof P['toWorker'] & string>(name: N, payload: P['toWorker'][N], transferList?: readonly Transferable[]): void {
    if (this.dead) return;
    this.post({ t: 'note', m: name, p: payload }, transferList);
  }

  /** Terminates the worker; pending calls reject with `SW_WORKER_EXITED`. Idempotent. */
  async terminate(): Promise<void> {
    this.fail(new RpcError(ERROR_CODES.WORKER_EXITED, 'worker terminated'));
    await this.worker.terminate();
  }

  private request(m: Extract<Down, { id: number }>, transferList?: readonly Transferable[]): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.pending.set(m.id, { resolve, reject });
      this.post(m, transferList);
    });
  }

  private post(m: Down, transferList?: readonly Transferable[]): void {
    this.worker.postMessage(m, transferList as Transferable[] | undefined);
  }

  private onMessage(m: Up): void {
    switch (m.t) {
      case 'note':
        (this.opts.notes?.[m.m] as ((p: unknown) => void) | undefined)?.(m.p);
        return;
      case 'chunk': {
        const w = this.chunkWaiters.get(m.id);
        if (!w) return;
        this.chunkWaiters.delete(m.id);
        w.resolve(m);
        return;
      }
      case 'err': {
        const w = this.chunkWaiters.get(m.id);
        if (w) {
          this.chunkWaiters.delete(m.id);
          w.reject(wireToError(m.e));
          return;
        }
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        p.reject(wireToError(m.e));
        return;
      }
      case 'ok':
      case 'head': {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        p.resolve(m.t === 'ok' ? m.r : m.h);
        return;
      }
    }
  }

  private fail(err: RpcError): void {
    if (this.dead) return;
    this.dead = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const w of this.chunkWaiters.values()) w.reject(err);
    this.chunkWaiters.clear();
    this.openStreams.clear();
  }
}

/** What a stream handler returns: the head, the chunks (sync or async), and what to release at the end. */
export interface StreamSource<H, C> {
  head: H;
  chunks: Iterator<Maybe<C>> | AsyncIterator<Maybe<C>>;
  close?(): void;
}

/** The worker's handlers for one protocol. */
export interface Handlers<P extends Protocol> {
  calls: { [M in keyof P['calls']]: (params: P['calls'][M]['params']) => Maybe<P['calls'][M]['result']> | Promise<Maybe<P['calls'][M]['result']>> };
  streams?: { [M in keyof P['streams']]: (params: P['streams'][M]['params']) => StreamSource<P['streams'][M]['head'], P['streams'][M]['chunk']> };
  notes?: { [N in keyof P['toWorker']]?: (payload: P['toWorker'][N]) => void };
  /** Called when the main thread's port closes (release connections here). */
  onClose?(): void;
}

/** The worker's side of the channel, returned by {@link serve}. */
export interface Server<P extends Protocol> {
  /** Sends a one-way message to the main thread. */
  notify<N extends keyof P['fromWorker'] & string>(name: N, payload: P['fromWorker'][N], transferList?: readonly Transferable[]): void;
}

function unwrap(v: unknown): [unknown, Transferable[] | undefined] {
  return v instanceof Transfer ? [v.value, v.list as Transferable[]] : [v, undefined];
}

function isPromise(v: unknown): v is Promise<unknown> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/**
 * Answers the main thread's calls on `port` (the worker's `parentPort`). A handler's throw reaches the caller
 * as an {@link RpcError} with the thrown error's catalogue code (or `SW_INTERNAL`). Synchronous handlers are
 * answered without an extra tick, which keeps hot paths as fast as hand-written messaging.
 */
export function serve<P extends Protocol>(port: MessagePort, handlers: Handlers<P>): Server<P> {
  const streams = new Map<number, StreamSource<unknown, unknown>>();
  const calls = handlers.calls as Record<string, (p: unknown) => unknown>;
  const streamOps = (handlers.streams ?? {}) as Record<string, (p: unknown) => StreamSource<unknown, unknown>>;
  const notes = (handlers.notes ?? {}) as Record<string, ((p: unknown) => void) | undefined>;
  const up = (m: Up, list?: Transferable[]): void => port.postMessage(m, list);
  const fail = (id: number, err: unknown): void => up({ t: 'err', id, e: toWireError(err) });
  const release = (id: number): void => {
    const s = streams.get(id);
    if (!s) return;
    streams.delete(id);
    try {
      s.close?.();
    } catch {
      /* releasing is best effort */
    }
  };

  function answer(id: number, v: unknown): void {
    const [r, list] = unwrap(v);
    up({ t: 'ok', id, r }, list);
  }

  function sendChunk(id: number, r: IteratorResult<unknown>): void {
    if (r.done) {
      release(id);
      up({ t: 'chunk', id, c: undefined, end: true });
      return;
    }
    const [c, list] = unwrap(r.value);
    up({ t: 'chunk', id, c, end: false }, list);
  }

  port.on('message', (m: Down) => {
    switch (m.t) {
      case 'call': {
        const h = calls[m.m];
        if (!h) return fail(m.id, new RpcError(ERROR_CODES.INTERNAL, `unknown method ${m.m}`));
        try {
          const v = h(m.p);
          if (isPromise(v)) v.then((x) => answer(m.id, x), (err: unknown) => fail(m.id, err));
          else answer(m.id, v);
        } catch (err) {
          fail(m.id, err);
        }
        return;
      }
      case 'open': {
        const h = streamOps[m.m];
        if (!h) return fail(m.id, new RpcError(ERROR_CODES.INTERNAL, `unknown stream ${m.m}`));
        try {
          const s = h(m.p);
          streams.set(m.id, s);
          up({ t: 'head', id: m.id, h: s.head });
        } catch (err) {
          fail(m.id, err);
        }
        return;
      }
      case 'next': {
        const s = streams.get(m.id);
        if (!s) return up({ t: 'chunk', id: m.id, c: undefined, end: true });
        try {
          const r = s.chunks.next();
          if (isPromise(r))
            r.then(
              (x) => sendChunk(m.id, x),
              (err: unknown) => {
                release(m.id);
                fail(m.id, err);
              },
            );
          else sendChunk(m.id, r);
        } catch (err) {
          release(m.id);
          fail(m.id, err);
        }
        return;
      }
      case 'close':
        release(m.id);
        return;
      case 'note':
        notes[m.m]?.(m.p);
        return;
    }
  });
  port.on('close', () => {
    for (const id of [...streams.keys()]) release(id);
    handlers.onClose?.();
  });
  return {
    notify(name, payload, transferList) {
      up({ t: 'note', m: name, p: payload }, transferList as Transferable[] | undefined);
    },
  };
}
