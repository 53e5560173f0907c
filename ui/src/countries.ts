/** Country names (English) and the numeric → alpha-2 mapping the world map needs, shipped in the bundle. */
import countries from 'i18n-iso-countries';
import en from 'i18n-iso-countries/langs/en.json';

countries.registerLocale(en);

/** `DE` → `Germany`; unknown codes come back as given. */
export function countryName(cc: string | null | undefined): string {
  if (!cc) return '—';
  return countries.getName(cc, 'en', { select: 'official' }) ?? cc;
}

/** ISO 3166-1 numeric (as in world-atlas ids) → alpha-2. */
export function alpha2(numeric: string | number | undefined): string | undefined {
  return numeric === undefined ? undefined : countries.numericToAlpha2(numeric);
}
