/**
 * `npm run bench [-- NAME ...]`: runs the named benchmarks (bench/<NAME>.ts) one after another, each in its own
 * process, or all of them when none is named. Every benchmark prints its figures as ratios against a baseline
 * measured in the same run.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3))
  .sort();
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = wanted.length ? wanted : available;
for (const n of names) {
  if (!available.includes(n)) {
    console.error(`bench: unknown benchmark "${n}" (available: ${available.join(', ')})`);
    process.exit(2);
  }
}
let failed = 0;
for (const n of names) {
  console.log(`\n=== bench ${n} ===`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', `${here}${n}.ts`], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
