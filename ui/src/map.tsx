/**
 * World map shaded by events per country: world-atlas's 110m country boundaries (TopoJSON, in the bundle) turned
 * into SVG paths with a plain equirectangular projection. No tiles, no network.
 */
import { feature } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
import world from 'world-atlas/countries-110m.json';
import { alpha2, countryName } from './countries.js';
import { num } from './text.js';

const W = 960;
const H = 480;

interface Shape { cc: string; name: string; d: string }

let shapes: Shape[] | null = null;

function ringPath(ring: number[][]): string {
  let d = '';
  let prevLon: number | null = null;
  let shift = 0;
  for (let i = 0; i < ring.length; i++) {
    let [lon, lat] = ring[i] as [number, number];
    // A ring that crosses the antimeridian is kept continuous (it runs off the edge instead of across the map).
    if (prevLon !== null && Math.abs(lon + shift - prevLon) > 180) shift += lon + shift > prevLon ? -360 : 360;
    lon += shift;
    prevLon = lon;
    const x = ((lon + 180) / 360) * W;
    const y = ((90 - lat) / 180) * H;
    d += `${i === 0 ? 'M' : 'L'}${x.toFixed(1)},${y.toFixed(1)}`;
  }
  return d + 'Z';
}

function buildShapes(): Shape[] {
  const topo = world as unknown as Topology<{ countries: GeometryCollection<{ name: string }> }>;
  const fc = feature(topo, topo.objects.countries);
  const out: Shape[] = [];
  for (const f of fc.features) {
    const cc = alpha2(f.id as string | undefined) ?? '';
    const g = f.geometry;
    if (!g) continue;
    const polys = g.type === 'Polygon' ? [g.coordinates] : g.type === 'MultiPolygon' ? g.coordinates : [];
    let d = '';
    for (const p of polys) for (const r of p) d += ringPath(r);
    out.push({ cc, name: cc ? countryName(cc) : (f.properties?.name ?? ''), d });
  }
  return out;
}

/** Shade for a count on a log scale against the largest count. */
function shade(n: number, max: number): string {
  if (n <= 0 || max <= 0) return '#1f2933';
  const t = Math.log(1 + n) / Math.log(1 + max);
  const l = 70 - t * 40;
  return `hsl(24, 90%, ${l.toFixed(0)}%)`;
}

export function WorldMap({ counts }: { counts: { country: string; events: number }[] }) {
  shapes ??= buildShapes();
  const by = new Map(counts.map((c) => [c.country, c.events]));
  const max = counts.reduce((m, c) => Math.max(m, c.events), 0);
  return (
    <svg class="map" data-testid="world-map" viewBox={`0 0 ${W} ${H}`} role="img" aria-label="events per source country">
      <rect x="0" y="0" width={W} height={H} fill="#0f1720" />
      {shapes.map((s) => {
        const n = by.get(s.cc) ?? 0;
        return (
          <path d={s.d} fill={shade(n, max)} stroke="#3b4756" stroke-width="0.4" data-cc={s.cc} data-events={String(n)}>
            <title>{`${s.name}: ${num(n)}`}</title>
          </path>
        );
      })}
    </svg>
  );
}
