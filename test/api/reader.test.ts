/**
 * The API's reader worker through the rpc helper: answers, streams, and errors rebuilt as ApiError from their
 * code and status (never from message text), including a worker that dies (503, then a fresh worker).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createReader } from '../../src/api/reader.js';
import { ApiError } from '../../src/api/protocol.js';
import { ERROR_CODES } from '../../src/errors.js';
import { RpcError } from '../../src/rpc/index.js';
import { createTestDb } from './seed.js';

test('queries answer, streams stream, and a bad op is a coded 500', { timeout: 30_000 }, async () => {
  const tdb = createTestDb();
  const reader = createReader({ dbPath: tdb.path, allow: [] });
  try {
    assert.deepEqual(await reader.query('methods'), []);
    const { head, body } = await reader.open('ipset', { family: null });
    assert.equal(head.total, 0);
    assert.equal(reader.openStreams(), 1);
    let text = '';
    for await (const c of body) text += String(c);
    assert.equal(typeof text, 'string');
    assert.equal(reader.openStreams(), 0);
    await assert.rejects(reader.query('nope'), (err: unknown) => err instanceof ApiError && err.status === 500 && err.code === ERROR_CODES.INTERNAL);
  } finally {
    await reader.close();
    tdb.close();
  }
});

test('a store that is not there is a 503 with SW_API_UNAVAILABLE, decided by code', { timeout: 30_000 }, async () => {
  const tdb = createTestDb();
  const reader = createReader({ dbPath: join(tdb.dir, 'missing.db'), allow: [] });
  try {
    await assert.rejects(reader.query('methods'), (err: unknown) => err instanceof ApiError && err.status === 503 && err.code === ERROR_CODES.API_UNAVAILABLE);
  } finally {
    await reader.close();
    tdb.close();
  }
});

test('after close, calls are 503 and the worker is gone', { timeout: 30_000 }, async () => {
  const tdb = createTestDb();
  const reader = createReader({ dbPath: tdb.path, allow: [] });
  try {
    await reader.query('methods');
    await reader.close();
    await assert.rejects(reader.query('methods'), (err: unknown) => err instanceof ApiError && err.status === 503);
  } finally {
    tdb.close();
  }
});

test('ApiError.from uses the carried status, else the code, never the message', () => {
  const fromWorker = new RpcError(ERROR_CODES.API_BAD_REQUEST, 'store not available', { status: 400 });
  assert.equal(ApiError.from(fromWorker).status, 400);
  assert.equal(ApiError.from(new RpcError(ERROR_CODES.WORKER_EXITED, 'invalid cursor')).status, 503);
  assert.equal(ApiError.from(new RpcError(ERROR_CODES.API_UNAVAILABLE, 'x')).status, 503);
  assert.equal(ApiError.from(new RpcError(ERROR_CODES.INTERNAL, 'HTTP 400')).status, 500);
  assert.equal(new ApiError(400, 'x').code, ERROR_CODES.API_BAD_REQUEST);
  assert.equal(new ApiError(418, 'x').code, ERROR_CODES.INTERNAL);
});
