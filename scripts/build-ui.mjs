// Bundles the dashboard (ui/) into dist/ui with esbuild: one script (app.js), one stylesheet (app.css) and the page.
// Everything it needs, boundaries and country names included, is in those files: the dashboard works offline and
// loads nothing from another origin. Part of `npm run build`.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { build } from 'esbuild';
import { feature } from 'topojson-client';

const require = createRequire(import.meta.url);

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'ui');

// The world map's shapes are projected here, once, rather than in every browser: world-atlas's 110m country
// boundaries, equirectangular onto a 960 × 480 box, one SVG path per country keyed by its ISO alpha-2 code.
const W = 960;
const H = 480;
function ringPath(ring) {
  let d = '';
  let prevLon = null;
  let shift = 0;
  ring.forEach(([lon0, lat], i) => {
    // A ring crossing the antimeridian stays continuous (it runs off the edge instead of across the map).
    if (prevLon !== null && Math.abs(lon0 + shift - prevLon) > 180) shift += lon0 + shift > prevLon ? -360 : 360;
    const lon = lon0 + shift;
    prevLon = lon;
    d += `${i === 0 ? 'M' : 'L'}${(((lon + 180) / 360) * W).toFixed(1)},${(((90 - lat) / 180) * H).toFixed(1)}`;
  });
  return d + 'Z';
}
function worldShapes() {
  const topo = require('world-atlas/countries-110m.json');
  const countries = require('i18n-iso-countries');
  const shapes = [];
  for (const f of feature(topo, topo.objects.countries).features) {
    const g = f.geometry;
    if (!g) continue;
    const polys = g.type === 'Polygon' ? [g.coordinates] : g.type === 'MultiPolygon' ? g.coordinates : [];
    let d = '';
    for (const p of polys) for (const r of p) d += ringPath(r);
    shapes.push({ cc: (f.id !== undefined && countries.numericToAlpha2(f.id)) || '', name: f.properties?.name ?? '', d });
  }
  return { width: W, height: H, shapes };
}
const worldPlugin = {
  name: 'world-shapes',
  setup(b) {
    b.onResolve({ filter: /^virtual:world-shapes$/ }, (a) => ({ path: a.path, namespace: 'world-shapes' }));
    b.onLoad({ filter: /.*/, namespace: 'world-shapes' }, () => ({ contents: JSON.stringify(worldShapes()), loader: 'json' }));
  },
};

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(root, 'ui', 'src', 'main.tsx') },
  outdir: out,
  bundle: true,
  format: 'esm',
  target: ['es2022'],
  minify: true,
  legalComments: 'linked',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  loader: { '.json': 'json' },
  logLevel: 'warning',
  plugins: [worldPlugin],
});
copyFileSync(join(root, 'ui', 'index.html'), join(out, 'index.html'));
