/**
 * The project's recorded SIP fixtures (test/fixtures/sip/, written by scripts/record-fixtures.mjs) and the hand-made
 * edge cases (./sip-edge-cases.ts), read the same way by every test that replays them.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Folder of the recorded fixtures and their manifest. */
export const FIXTURES = new URL('../fixtures/sip/', import.meta.url);

/** Raw bytes of a file named relative to the fixtures folder. */
export const readFixture = (file: string): Buffer => readFileSync(fileURLToPath(new URL(file, FIXTURES)));

/** The recorded manifest, typed by the caller. */
export function loadManifest<T>(): { count: number; entries: T[] } {
  return JSON.parse(readFileSync(new URL('manifest.json', FIXTURES), 'utf8')) as { count: number; entries: T[] };
}
