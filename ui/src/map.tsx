/**
 * World map shaded by events per country. The shapes (world-atlas's 110m country boundaries, projected to SVG paths
 * when the dashboard is built) are in the bundle: no tiles, no network, no projection work in the browser.
 */
import world from 'virtual:world-shapes';
import { countryName } from './countries.js';
import { num } from './text.js';

/** Fill of a country without events. */
export const EMPTY_FILL = '#1f2933';

/** Shade for a count on a log scale against the largest count. */
function shade(n: number, max: number): string {
  if (n <= 0 || max <= 0) return EMPTY_FILL;
  const t = Math.log(1 + n) / Math.log(1 + max);
  return `hsl(24, 90%, ${(70 - t * 40).toFixed(0)}%)`;
}

export function WorldMap({ counts }: { counts: { country: string; events: number }[] }) {
  const by = new Map(counts.map((c) => [c.country, c.events]));
  const max = counts.reduce((m, c) => Math.max(m, c.events), 0);
  return (
    <svg class="map" data-testid="world-map" viewBox={`0 0 ${world.width} ${world.height}`} role="img" aria-label="events per source country">
      <rect x="0" y="0" width={world.width} height={world.height} fill="#0f1720" />
      {world.shapes.map((s) => {
        const n = by.get(s.cc) ?? 0;
        return (
          <path d={s.d} fill={shade(n, max)} stroke="#3b4756" stroke-width="0.4" data-cc={s.cc} data-events={String(n)}>
            <title>{`${s.cc ? countryName(s.cc) : s.name}: ${num(n)}`}</title>
          </path>
        );
      })}
    </svg>
  );
}
