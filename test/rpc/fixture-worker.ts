/** A worker for the rpc helper's tests: echoes, throws coded errors, streams, crashes on request. */
import { parentPort } from 'node:worker_threads';
import { serve, transfer, RpcError } from '../../src/rpc/index.js';
import { ConfigError, ERROR_CODES } from '../../src/errors.js';
import type { TestProtocol } from './protocol.js';

const server = serve<TestProtocol>(parentPort!, {
  calls: {
    add: (p) => p.a + p.b,
    later: async (p) => {
      await new Promise((r) => setTimeout(r, p.ms));
      return 'done';
    },
    fail: (p) => {
      if (p.kind === 'config') throw new ConfigError('--x', 'bad');
      if (p.kind === 'status') throw Object.assign(new RpcError(ERROR_CODES.API_BAD_REQUEST, 'bad input'), { status: 400 });
      if (p.kind === 'async') return Promise.reject(new RpcError(ERROR_CODES.STORE_WRITE_FAILED, 'disk full'));
      throw new Error('plain');
    },
    crash: () => {
      setImmediate(() => process.exit(3));
      return new Promise<never>(() => undefined);
    },
    throwOutside: () => {
      setImmediate(() => {
        throw new Error('boom');
      });
      return new Promise<never>(() => undefined);
    },
    sum: (p) => {
      const a = new Float64Array(p.buf);
      let s = 0;
      for (const x of a) s += x;
      const out = new Float64Array([s]).buffer;
      return transfer({ buf: out }, [out]);
    },
    emit: (p) => {
      for (let i = 0; i < p.n; i++) server.notify('tick', { i });
      return p.n;
    },
  },
  streams: {
    count: (p) => {
      let closed = false;
      const chunks = (function* () {
        for (let i = 0; i < p.n; i++) {
          if (p.failAt === i) throw new RpcError(ERROR_CODES.API_UNAVAILABLE, 'store gone');
          yield `row ${i}`;
        }
      })();
      return {
        head: { total: p.n },
        chunks,
        close: () => {
          closed = true;
          server.notify('closed', { n: p.n, closed });
        },
      };
    },
  },
  notes: {
    ping: (p) => server.notify('pong', p),
  },
});
