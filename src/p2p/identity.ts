import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { Ed25519PrivateKey, PrivateKey } from '@libp2p/interface';
import { ERROR_CODES, SipwardenError } from '../errors.js';

/** File name of the node's libp2p identity inside the data dir. */
export const IDENTITY_FILE = 'p2p-identity.key';

/**
 * Loads `<dataDir>/p2p-identity.key` (libp2p protobuf private key), or creates an Ed25519 key there with mode
 * 0600. Same file ⇒ same PeerId after a restart. Any other key type is refused: records are signed Ed25519.
 */
export async function loadOrCreateIdentity(dataDir: string): Promise<Ed25519PrivateKey> {
  const path = join(dataDir, IDENTITY_FILE);
  let key: PrivateKey;
  try {
    key = privateKeyFromProtobuf(await readFile(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const created = await generateKeyPair('Ed25519');
    // Write then rename, so a crash never leaves a truncated identity behind.
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, privateKeyToProtobuf(created), { mode: 0o600 });
    await rename(tmp, path);
    return created;
  }
  if (key.type !== 'Ed25519') throw new SipwardenError(ERROR_CODES.CONFIG_INVALID, `${path}: identity key is ${key.type}, expected Ed25519`);
  // Tighten a key file someone loosened; the identity is the node's signing key.
  await chmod(path, 0o600).catch(() => undefined);
  return key;
}
