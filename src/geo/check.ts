import type { Config } from '../config/types.js';
import { ConfigError } from '../errors.js';
import { GeoDatabaseError, geoPathsOf, openGeoDatabase, type GeoPaths } from './lookup.js';

/**
 * Resolves `--geoip-db` / `--asn-db` and opens each file once on the main thread, before anything listens, so a
 * missing or corrupt file is one clear line naming the flag (exit 2). The writer thread opens its own readers.
 * Returns null when no database is in use.
 */
export function checkGeoDatabases(config: Pick<Config, 'geoipDb' | 'asnDb'>): GeoPaths | null {
  const paths = geoPathsOf(config.geoipDb, config.asnDb);
  const check = (kind: 'geoip' | 'asn', flag: string, p: string | null): void => {
    if (p === null) return;
    try {
      openGeoDatabase(kind, p);
    } catch (err) {
      if (err instanceof GeoDatabaseError) throw new ConfigError(flag, err.message);
      throw err;
    }
  };
  // The embedded database was found by module resolution; if the package is missing that is a broken install.
  check('geoip', config.geoipDb === null ? '--geoip-db (embedded default)' : '--geoip-db', paths.geoip);
  check('asn', '--asn-db', paths.asn);
  return paths.geoip === null && paths.asn === null ? null : paths;
}
