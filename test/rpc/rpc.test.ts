/** The worker messaging helper with a real worker thread: calls, coded errors, streams, notes, transfers, exits. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { RpcClient, RpcError, toWireError } from '../../src/rpc/index.js';
import { ConfigError, ERROR_CODES } from '../../src/errors.js';
import type { TestProtocol } from './protocol.js';

function start(notes: ConstructorParameters<typeof RpcClient<TestProtocol>>[1] = {}): RpcClient<TestProtocol> {
  const url = new URL('./fixture-worker.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const w = new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url)}); });`, { eval: true });
  return new RpcClient<TestProtocol>(w, notes);
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RpcError, `not an RpcError: ${String(err)}`);
    assert.equal(err.code, code);
    return err;
  }
  assert.fail('did not reject');
}

test('calls answer by method name, sync and async, in any order', { timeout: 20_000 }, async () => {
  const c = start();
  try {
    const slow = c.call('later', { ms: 50 });
    assert.equal(await c.call('add', { a: 2, b: 3 }), 5);
    assert.equal(await slow, 'done');
    const many = await Promise.all(Array.from({ length: 100 }, (_, i) => c.call('add', { a: i, b: 1 })));
    assert.deepEqual(many, Array.from({ length: 100 }, (_, i) => i + 1));
  } finally {
    await c.terminate();
  }
});

test('an error thrown in the worker arrives with its stable code and details', { timeout: 20_000 }, async () => {
  const c = start();
  try {
    assert.equal((await rejectsWith(c.call('fail', { kind: 'config' }), ERROR_CODES.CONFIG_INVALID)).message, '--x: bad');
    const st = await rejectsWith(c.call('fail', { kind: 'status' }), ERROR_CODES.API_BAD_REQUEST);
    assert.deepEqual(st.details, { status: 400 });
    await rejectsWith(c.call('fail', { kind: 'async' }), ERROR_CODES.STORE_WRITE_FAILED);
    // An uncatalogued error becomes SW_INTERNAL; the worker goes on.
    await rejectsWith(c.call('fail', { kind: 'plain' }), ERROR_CODES.INTERNAL);
    await rejectsWith(c.call('nope' as 'add', { a: 1, b: 1 }), ERROR_CODES.INTERNAL);
    assert.equal(await c.call('add', { a: 1, b: 1 }), 2);
  } finally {
    await c.terminate();
  }
});

test('streams are pulled chunk by chunk, end, close early, and fail with a code', { timeout: 20_000 }, async () => {
  const closed: number[] = [];
  const c = start({ notes: { closed: (p) => closed.push(p.n) } });
  try {
    const s = await c.open('count', { n: 3 });
    assert.deepEqual(s.head, { total: 3 });
    assert.equal(c.streamCount, 1);
    const got: string[] = [];
    for (;;) {
      const r = await s.next();
      if (r.done) break;
      got.push(r.value);
    }
    assert.deepEqual(got, ['row 0', 'row 1', 'row 2']);
    assert.equal(c.streamCount, 0);
    assert.deepEqual(await s.next(), { done: true });

    const early = await c.open('count', { n: 1000 });
    assert.deepEqual(await early.next(), { done: false, value: 'row 0' });
    early.close();
    assert.equal(c.streamCount, 0);
    await c.call('add', { a: 0, b: 0 }); // the close reached the worker before this answer
    assert.ok(closed.includes(1000), 'the worker released the stream closed early');

    const bad = await c.open('count', { n: 5, failAt: 1 });
    await bad.next();
    await rejectsWith(bad.next(), ERROR_CODES.API_UNAVAILABLE);
    assert.equal(c.streamCount, 0);
  } finally {
    await c.terminate();
  }
});

test('one-way notes both ways, in order', { timeout: 20_000 }, async () => {
  const ticks: number[] = [];
  const pongs: number[] = [];
  const c = start({ notes: { tick: (p) => ticks.push(p.i), pong: (p) => pongs.push(p.x) } });
  try {
    c.notify('ping', { x: 7 });
    assert.equal(await c.call('emit', { n: 50 }), 50);
    assert.deepEqual(ticks, Array.from({ length: 50 }, (_, i) => i));
    assert.deepEqual(pongs, [7]);
  } finally {
    await c.terminate();
  }
});

test('transfer lists move buffers both ways', { timeout: 20_000 }, async () => {
  const c = start();
  try {
    const buf = new Float64Array([1, 2, 3.5]).buffer;
    const r = await c.call('sum', { buf }, [buf]);
    assert.equal(buf.byteLength, 0, 'the argument was moved, not copied');
    assert.equal(new Float64Array(r.buf)[0], 6.5);
  } finally {
    await c.terminate();
  }
});

test('a worker that exits fails pending calls and streams with SW_WORKER_EXITED, and later calls too', { timeout: 20_000 }, async () => {
  const c = start();
  const s = await c.open('count', { n: 10 });
  const pending = c.call('later', { ms: 60_000 });
  const crash = c.call('crash', undefined);
  await rejectsWith(pending, ERROR_CODES.WORKER_EXITED);
  await rejectsWith(crash, ERROR_CODES.WORKER_EXITED);
  await rejectsWith(s.next(), ERROR_CODES.WORKER_EXITED);
  await rejectsWith(c.call('add', { a: 1, b: 2 }), ERROR_CODES.WORKER_EXITED);
  assert.equal(c.alive, false);
  await c.exited;
  c.notify('ping', { x: 1 }); // dropped, no throw
});

test('a worker that crashes with an uncaught error fails pending calls the same way', { timeout: 20_000 }, async () => {
  const c = start();
  const errors: Error[] = [];
  c.worker.on('error', (e) => errors.push(e));
  const pending = c.call('later', { ms: 60_000 });
  await rejectsWith(c.call('throwOutside', undefined), ERROR_CODES.WORKER_EXITED);
  await rejectsWith(pending, ERROR_CODES.WORKER_EXITED);
  await c.exited;
  assert.equal(errors[0]?.message, 'boom');
});

test('terminate rejects pending calls with a code and is idempotent', { timeout: 20_000 }, async () => {
  const c = start();
  const pending = rejectsWith(c.call('later', { ms: 60_000 }), ERROR_CODES.WORKER_EXITED);
  await c.terminate();
  await c.terminate();
  await pending;
});

test('toWireError keeps catalogue codes and status, maps the rest to SW_INTERNAL', () => {
  assert.equal(toWireError(new ConfigError('--a', 'b')).code, ERROR_CODES.CONFIG_INVALID);
  assert.equal(toWireError(Object.assign(new Error('x'), { code: 'ENOENT' })).code, ERROR_CODES.INTERNAL);
  assert.equal(toWireError('text').message, 'text');
  assert.deepEqual(toWireError(Object.assign(new Error('y'), { status: 503 })).details, { status: 503 });
});
