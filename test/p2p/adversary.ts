/**
 * Test-only adversarial publisher: a bare libp2p + gossipsub node that publishes whatever bytes it is told
 * to on the sipwarden topic, signed (StrictSign) or unsigned (StrictNoSign). Used in-process by the component
 * tests and as its own process by the e2e tests:
 *
 *   node --import tsx test/p2p/adversary.ts <multiaddr> <mode> [count] [perSecond] [holdMs]
 *
 * modes: `unsigned` (valid records, no gossip signature), `bad` (forged origin, oversized, malformed, then
 * valid records), `valid`, `flood` (valid records at a rate). Prints one JSON line `{"peerId","sent":[uuids],"bad":[uuids],"floodMs"}` (how long publishing took).
 */
import '../../src/p2p/polyfill.js';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { gossipsub, StrictNoSign, StrictSign, type GossipSub } from '@libp2p/gossipsub';
import { identify } from '@libp2p/identify';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2p } from 'libp2p';
import { newUuid } from '../../src/events/event.js';
import { createRecordSigner, envelopeForEvent, signRecord, sharedRecord, TOPIC, type RecordSigner } from '../../src/p2p/record.js';
import { sampleEvent } from './helpers.js';

export interface Adversary {
  peerId: string;
  signer: RecordSigner;
  node: Libp2p<{ pubsub: GossipSub; identify: unknown }>;
  publish(bytes: Uint8Array): Promise<void>;
  /** Waits until the target is a gossipsub topic peer (so publishes go out). */
  waitMesh(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function createAdversary(target: string, opts: { signed: boolean }): Promise<Adversary> {
  const key = await generateKeyPair('Ed25519');
  const peerId = peerIdFromPrivateKey(key).toString();
  const node = await createLibp2p({
    privateKey: key,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({ globalSignaturePolicy: opts.signed ? StrictSign : StrictNoSign, allowPublishToZeroTopicPeers: true }),
    },
  });
  await node.start();
  node.services.pubsub.subscribe(TOPIC);
  await node.dial(multiaddr(target));
  return {
    peerId,
    signer: createRecordSigner(peerId, key.raw),
    node,
    async publish(bytes) {
      await node.services.pubsub.publish(TOPIC, bytes).catch(() => undefined);
    },
    async waitMesh(timeoutMs = 5000) {
      const end = Date.now() + timeoutMs;
      while (node.services.pubsub.getSubscribers(TOPIC).length === 0) {
        if (Date.now() > end) throw new Error('target never subscribed');
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async stop() {
      await node.stop();
    },
  };
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A valid envelope for a fresh event from a made-up node, signed by `signer`. */
export function validRecord(signer: RecordSigner, sourceIp = '198.51.100.9'): { uuid: string; bytes: Uint8Array } {
  const ev = sampleEvent(newUuid(), { sourceIp });
  return { uuid: ev.eventUuid, bytes: enc(envelopeForEvent(ev, 'no-credentials', signer)) };
}

/** The bad records of the `bad` mode, each with the uuid it carries. */
export function badRecords(signer: RecordSigner, other: RecordSigner): Array<{ uuid: string; bytes: Uint8Array }> {
  const out: Array<{ uuid: string; bytes: Uint8Array }> = [];
  // Forged origin: a record signed by someone else, published under our gossip signature.
  out.push(validRecord(other));
  // Oversized: a padded envelope over 64 KiB.
  const big = validRecord(signer);
  const env = JSON.parse(Buffer.from(big.bytes).toString()) as Record<string, unknown>;
  out.push({ uuid: big.uuid, bytes: enc(JSON.stringify({ ...env, pad: 'x'.repeat(70_000) })) });
  // Malformed: signed properly, but the payload is not a record.
  const mal = sampleEvent(newUuid());
  const rec = sharedRecord(mal, 'full') as unknown as Record<string, unknown>;
  out.push({ uuid: mal.eventUuid, bytes: enc(signRecord({ ...rec, source_ip: 'not-an-ip' } as never, signer)) });
  return out;
}

async function main(): Promise<void> {
  const [target, mode = 'valid', countArg = '5', rateArg = '50', holdArg = '0'] = process.argv.slice(2);
  if (!target) throw new Error('usage: adversary.ts <multiaddr> <mode> [count] [perSecond]');
  const count = Number(countArg);
  const rate = Number(rateArg);
  const adv = await createAdversary(target, { signed: mode !== 'unsigned' });
  await adv.waitMesh(10_000);
  // Let the mesh graft (heartbeat is 1 s) so publishes reach the target through the mesh.
  await new Promise((r) => setTimeout(r, 1200));
  const sent: string[] = [];
  const bad: string[] = [];
  if (mode === 'bad') {
    const otherKey = await generateKeyPair('Ed25519');
    const other = createRecordSigner(peerIdFromPrivateKey(otherKey).toString(), otherKey.raw);
    for (const r of badRecords(adv.signer, other)) {
      bad.push(r.uuid);
      await adv.publish(r.bytes);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const r = validRecord(adv.signer);
    sent.push(r.uuid);
    await adv.publish(r.bytes);
    if (rate > 0) {
      const due = start + ((i + 1) * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
  }
  const floodMs = performance.now() - start;
  await new Promise((r) => setTimeout(r, 500));
  process.stdout.write(JSON.stringify({ peerId: adv.peerId, sent, bad, floodMs }) + '\n');
  // Stay connected a while so the test can read our score on the target.
  await new Promise((r) => setTimeout(r, Number(holdArg)));
  await adv.stop();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const watchdog = setTimeout(() => process.exit(3), 60_000);
  watchdog.unref();
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(String(err) + '\n');
      process.exit(1);
    },
  );
}
