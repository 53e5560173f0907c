#!/usr/bin/env node
// Writes a new libp2p private-network key (swarm.key format) for `sipwarden --p2p-network-key FILE`.
// Usage: node scripts/p2p-keygen.mjs swarm.key   (refuses to overwrite; file mode 0600)
// Needs nothing but Node: the format is three lines, `/key/swarm/psk/1.0.0/`, `/base16/`, 64 hex digits.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: node scripts/p2p-keygen.mjs <file>\n');
  process.exit(2);
}
try {
  writeFileSync(out, `/key/swarm/psk/1.0.0/\n/base16/\n${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
} catch (err) {
  process.stderr.write(`p2p-keygen: ${err.message}\n`);
  process.exit(1);
}
process.stdout.write(`wrote ${out}; copy it to every node of the group over a secure channel\n`);
