/** Descriptor budget arithmetic and the exhaustion watch's counting and once-a-minute logging (pure, no sockets). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { Metrics } from '../../src/metrics.js';
import { DescriptorWatch, connectionBudget, descriptorLimit, isDescriptorExhaustion } from '../../src/sip/transport/descriptors.js';
import { ConnectionTable } from '../../src/sip/transport/stream.js';

describe('descriptor budget', () => {
  test('SIP connections leave max(64, limit/8) descriptors free, at least 16 connections', () => {
    assert.equal(connectionBudget(256), 192);
    assert.equal(connectionBudget(1024), 896);
    assert.equal(connectionBudget(65_536), 57_344);
    assert.equal(connectionBudget(40), 16);
    assert.equal(connectionBudget(null), Infinity);
    const limit = descriptorLimit();
    assert.ok(limit === null || limit > 0);
  });

  test('the table refuses with "descriptors" when the budget is below the configured total', () => {
    const t = new ConnectionTable({ maxMessageBytes: 1, idleTimeoutMs: 1, maxConnectionsPerSource: 10, maxConnections: 100 }, 3);
    assert.equal(t.cap, 3);
    assert.deepEqual(['a', 'b', 'c', 'd'].map((ip) => t.tryOpen(ip)), ['ok', 'ok', 'ok', 'descriptors']);
    t.close('a');
    assert.equal(t.tryOpen('d'), 'ok');
    assert.equal(t.open, 3);
  });

  test('EMFILE and ENFILE are exhaustion; other errors are not', () => {
    assert.ok(isDescriptorExhaustion(Object.assign(new Error('x'), { code: 'EMFILE' })));
    assert.ok(isDescriptorExhaustion(Object.assign(new Error('x'), { code: 'ENFILE' })));
    assert.ok(!isDescriptorExhaustion(Object.assign(new Error('x'), { code: 'ECONNRESET' })));
    assert.ok(!isDescriptorExhaustion(null));
  });
});

describe('DescriptorWatch', () => {
  test('every occurrence is counted; one log line a minute at most, with the occurrences since the last', async () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (s: string) => void lines.push(s) });
    const metrics = new Metrics({ processMetrics: false });
    let now = 1_000_000;
    const w = new DescriptorWatch(metrics, logger, () => now);
    const err = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' });
    for (let i = 0; i < 50; i++) w.report(err, 'accept');
    now += 59_000;
    w.report(err, 'accept');
    assert.equal(lines.length, 1);
    now += 2_000;
    w.report(err, 'probe');
    assert.equal(lines.length, 2);
    assert.equal(JSON.parse(lines[1]!).occurrences, 51);
    assert.match(JSON.parse(lines[0]!).msg, /out of file descriptors/);
    assert.equal((await metrics.descriptorExhaustion.get()).values[0]!.value, 52);
    assert.ok(w.probe(), 'a descriptor can be opened now');
    await w.start();
    await w.start();
    await w.stop();
    await w.stop();
  });
});
