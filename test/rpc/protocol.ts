/** The method map of the rpc helper's test worker. */
export interface TestProtocol {
  calls: {
    add: { params: { a: number; b: number }; result: number };
    later: { params: { ms: number }; result: string };
    fail: { params: { kind: 'config' | 'status' | 'async' | 'plain' }; result: never };
    crash: { params: undefined; result: never };
    throwOutside: { params: undefined; result: never };
    sum: { params: { buf: ArrayBuffer }; result: { buf: ArrayBuffer } };
    emit: { params: { n: number }; result: number };
  };
  streams: {
    count: { params: { n: number; failAt?: number }; head: { total: number }; chunk: string };
  };
  toWorker: { ping: { x: number } };
  fromWorker: { pong: { x: number }; tick: { i: number }; closed: { n: number; closed: boolean } };
}
