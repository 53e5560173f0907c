/** Timestamp text shared by the store's query results, the API and the live stream. */

/** UTC microseconds → RFC 3339 with microseconds, e.g. `2026-11-24T17:48:04.008658Z`; null stays null. */
export function rfc3339(us: number | null): string | null {
  if (us === null || us === undefined || !Number.isFinite(us)) return null;
  const ms = Math.floor(us / 1000);
  const iso = new Date(ms).toISOString();
  const micro = String(((us % 1_000_000) + 1_000_000) % 1_000_000).padStart(6, '0');
  return `${iso.slice(0, 19)}.${micro}Z`;
}
