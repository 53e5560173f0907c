import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

const SWARM_KEY_RE = /^\/key\/swarm\/psk\/1\.0\.0\/\r?\n\/base16\/\r?\n[0-9a-fA-F]{64}\s*$/;

/**
 * Reads a libp2p `swarm.key` (pre-shared key, `@libp2p/pnet` format):
 * `/key/swarm/psk/1.0.0/`, `/base16/`, 64 hex digits. Throws a ConfigError naming the flag otherwise.
 */
export function loadNetworkKey(path: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('--p2p-network-key', `${path}: ${(err as Error).message}`);
  }
  if (!SWARM_KEY_RE.test(text)) {
    throw new ConfigError('--p2p-network-key', `${path}: not a swarm.key (/key/swarm/psk/1.0.0/, /base16/, 64 hex digits)`);
  }
  // Re-emit in the canonical form: pnet's base16 decoder wants lowercase hex and exactly three lines.
  const hex = text.trim().split(/\r?\n/)[2]!.toLowerCase();
  return new TextEncoder().encode(`/key/swarm/psk/1.0.0/\n/base16/\n${hex}`);
}
