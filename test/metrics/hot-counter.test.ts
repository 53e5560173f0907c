import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metrics } from '../../src/metrics.js';

test('hot counter children: increments reach every way of reading the registry, once', async () => {
  const m = new Metrics({ processMetrics: false });
  const udpOptions = m.hotCounter(m.sipEvents, { transport: 'udp', method: 'OPTIONS', origin: 'local' });
  const tcpInvite = m.hotCounter(m.sipEvents, { transport: 'tcp', method: 'INVITE', origin: 'local' });
  const replies = m.hotCounter(m.sipReplies, { transport: 'udp', status: '200' });
  for (let i = 0; i < 5; i++) udpOptions.inc();
  tcpInvite.inc();
  replies.inc();
  // Ordinary increments of the same counter mix with the hot ones.
  m.sipEvents.inc({ transport: 'udp', method: 'OPTIONS', origin: 'peer' });

  const text = await m.registry.metrics();
  assert.match(text, /sipwarden_sip_events_total\{transport="udp",method="OPTIONS",origin="local"\} 5/);
  assert.match(text, /sipwarden_sip_events_total\{transport="tcp",method="INVITE",origin="local"\} 1/);
  assert.match(text, /sipwarden_sip_events_total\{transport="udp",method="OPTIONS",origin="peer"\} 1/);
  assert.match(text, /sipwarden_sip_replies_total\{transport="udp",status="200"\} 1/);

  // Read again: nothing is counted twice; new increments add up.
  udpOptions.inc();
  const values = (await m.sipEvents.get()).values;
  const local = values.find((v) => v.labels.transport === 'udp' && v.labels.origin === 'local');
  assert.equal(local?.value, 6);
  const json = await m.registry.getMetricsAsJSON();
  const ev = json.find((x) => x.name === 'sipwarden_sip_events_total')!;
  assert.equal((ev.values as { value: number }[]).reduce((a, v) => a + v.value, 0), 8);
});
