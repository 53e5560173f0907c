/**
 * The feed's ExaBGP pipes (in-memory streams standing in for ExaBGP's): the acknowledgement window, `error`
 * answers, malformed lines, stdout backpressure, a missing acknowledgement, and stdin closing.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { ExabgpPipe, type AnswerKind } from '../../src/bgp/exabgp-pipe.js';

const tick = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));

function rig(opts: { maxInFlight?: number; ackTimeoutMs?: number } = {}) {
  const input = new PassThrough();
  const output = new PassThrough();
  const lines: string[] = [];
  output.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)));
  const logs: string[] = [];
  const kinds: AnswerKind[] = [];
  const ups: string[] = [];
  const pipe = new ExabgpPipe({ input, output, log: (l) => logs.push(l), onAnswer: (k) => kinds.push(k), onNeighborUp: (p) => ups.push(p), ...opts });
  return { input, output, lines, logs, kinds, ups, pipe };
}

describe('ExaBGP pipe', () => {
  test('at most 4 commands unacknowledged; done and error both open the window; errors name the command', async () => {
    const r = rig();
    r.pipe.send(Array.from({ length: 10 }, (_, i) => `cmd ${i}`));
    await tick();
    assert.deepEqual(r.lines, ['cmd 0', 'cmd 1', 'cmd 2', 'cmd 3']);
    assert.equal(r.pipe.unanswered, 4);
    assert.equal(r.pipe.queued, 6);
    r.input.write('done\n');
    await tick();
    assert.equal(r.lines.length, 5);
    r.input.write('error\n');
    await tick();
    assert.equal(r.lines.length, 6);
    assert.ok(r.logs.some((l) => l.includes('refused a command (cmd 1)')), r.logs.join('\n'));
    let idle = false;
    void r.pipe.idle().then(() => (idle = true));
    r.input.write('done\n'.repeat(7));
    await tick();
    assert.equal(r.lines.length, 10);
    await tick();
    assert.equal(idle, false, 'one command is still unanswered');
    r.input.write('done\n');
    await r.pipe.idle();
    assert.deepEqual(r.kinds.filter((k) => k === 'done').length, 9);
    r.pipe.close();
  });

  test('malformed and unexpected answers are counted and logged, never thrown, and do not open the window', async () => {
    const r = rig({ maxInFlight: 1 });
    r.pipe.send(['a', 'b']);
    r.input.write('\u0000\u0001\u001b[31mjunk\nDONE\ndone please\nerror: x\nneighbor\nneighbor 1.2.3.4 weird\n' + 'x'.repeat(100_000) + '\n\n   \n');
    r.input.write(Buffer.from([0xff, 0xfe, 0x0a]));
    await tick(50);
    assert.deepEqual(r.lines, ['a'], 'no malformed line counts as an acknowledgement');
    assert.equal(r.kinds.filter((k) => k === 'unknown').length, 8);
    assert.ok(r.logs.every((l) => l.length < 200 && !/[\u0000-\u001f]/.test(l)), r.logs.join('\n'));
    r.input.write('neighbor 203.0.113.2 connected\nneighbor 203.0.113.2 down - peer reset\nneighbor 203.0.113.2 up\nneighbor 2001:db8::2 up\nshutdown 123 1\nshutdown\n');
    await tick();
    assert.deepEqual(r.ups, ['203.0.113.2', '2001:db8::2']);
    assert.equal(r.kinds.filter((k) => k === 'neighbor_state').length, 2);
    assert.equal(r.kinds.filter((k) => k === 'shutdown').length, 2);
    r.input.write('done\r\n');
    await tick();
    assert.deepEqual(r.lines, ['a', 'b']);
    // Past the first ten, unexpected lines are only counted.
    r.input.write('junk\n'.repeat(50));
    await tick();
    assert.ok(r.logs.filter((l) => l.includes('unexpected line')).length <= 10);
    r.pipe.close();
  });

  test('stdout backpressure: nothing more is written until drain, and order is kept', async () => {
    const input = new PassThrough();
    const got: string[] = [];
    let release: (() => void) | null = null;
    // A reader that takes one chunk at a time, only when the test lets it.
    const output = new Writable({
      highWaterMark: 64,
      write(chunk: Buffer, _enc, cb) {
        got.push(chunk.toString());
        release = cb;
      },
    });
    const pipe = new ExabgpPipe({ input, output, log: () => {}, maxInFlight: 1000 });
    const cmds = Array.from({ length: 20 }, (_, i) => `announce attributes next-hop 192.0.2.1 nlri 8.8.8.${i}/32`);
    pipe.send(cmds);
    await tick();
    // The first write is taken, the next sit in the stream's buffer up to its mark; the rest wait in the queue.
    assert.ok(pipe.queued > 0 && pipe.queued < 20, `queued ${pipe.queued}`);
    const before = pipe.queued;
    await tick();
    assert.equal(pipe.queued, before);
    for (let i = 0; i < 100 && got.length < 20; i++) {
      const cb = release as (() => void) | null;
      release = null;
      cb?.();
      await tick(5);
    }
    assert.deepEqual(got.join('').split('\n').filter(Boolean), cmds);
    assert.equal(pipe.queued, 0);
    pipe.close();
  });

  test('no acknowledgement at all (exabgp.api.ack off): after the timeout everything is sent; a late done turns the window back on', async () => {
    const r = rig({ ackTimeoutMs: 150 });
    r.pipe.send(Array.from({ length: 9 }, (_, i) => `c${i}`));
    await tick();
    assert.equal(r.lines.length, 4);
    await tick(400);
    assert.equal(r.lines.length, 9);
    assert.ok(r.kinds.includes('ack_timeout'));
    assert.ok(r.logs.some((l) => l.includes('exabgp.api.ack')));
    await r.pipe.idle();
    r.input.write('done\n');
    await tick();
    r.pipe.send(Array.from({ length: 6 }, (_, i) => `d${i}`));
    await tick();
    assert.equal(r.lines.length, 13, 'window of 4 again');
    r.pipe.close();
  });

  test('stdin closed: closed resolves and nothing more is written', async () => {
    const r = rig();
    r.input.end();
    await r.pipe.closed;
    r.pipe.send(['late']);
    await tick();
    assert.deepEqual(r.lines, []);
  });
});
