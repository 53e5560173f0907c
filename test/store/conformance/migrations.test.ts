// Conformance: a database at any earlier schema version (0 = empty) is brought to the current one by start(), and
// the migrated store then behaves as a new one: events, credentials, aggregates, outbox and peer records.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeEvent } from '../helpers.js';
import { BACKENDS } from './backends.js';

for (const backend of BACKENDS) {
  describe(`conformance migrations: ${backend.name}`, { timeout: 60_000 }, () => {
    for (const v of backend.earlierSchemaVersions) {
      test(`from schema version ${v}`, async () => {
        const s = await backend.open({ fromSchemaVersion: v, webhookOutbox: true });
        try {
          assert.match(s.store.nodeId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
          const e = makeEvent({
            sourceIp: '2001:db8::5', sourceCountry: 'SE', sourceAsn: 64500, origin: 'peer', originPeerId: 'p', peerEnvelope: '{"v":1}',
            auth: {
              header: 'Authorization', scheme: 'Digest', username: 'mig', realm: null, nonce: null, uri: null, response: null,
              algorithm: null, qop: null, nc: null, cnonce: null, opaque: null, password: 'pw', passwordSource: 'sipvicious_tag', passwordVerified: true,
            },
          });
          s.store.append(e);
          await s.store.flush();
          const ev = s.reader.events({ order: 'desc', limit: 5, includeMessage: true }).items;
          assert.deepEqual(ev.map((i) => [i.event_uuid, i.source_asn, i.sip_message]), [[e.eventUuid, 64500, e.sipMessage]]);
          assert.equal(s.reader.credentials({ limit: 5 }).items[0]?.password_verified, true);
          assert.equal(s.reader.ipAddresses({ details: true, limit: 5 }).items[0]?.country, 'SE');
          assert.equal(s.reader.overview(Date.now() * 1000, 5).top.sources[0]?.key, '2001:db8::5');
          assert.deepEqual(s.store.webhookOutbox().counts(), { pending: 1, dead: 0 });
          assert.deepEqual(s.store.peerRecords().pager.chunk(0, 5).map((r) => r.envelope), ['{"v":1}']);
        } finally {
          await s.close();
        }
      });
    }
  });
}
