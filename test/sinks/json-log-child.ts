/**
 * Child process of json-log.test.ts, run under `ulimit -f` (RLIMIT_FSIZE): writes two batches with the JSON-log
 * observer to argv[2]; the second crosses the size limit, so the kernel makes a short write followed by EFBIG,
 * a real partial write. Prints the observer's counters as one JSON line on stdout.
 */
import { createJsonLogObserver } from '../../src/sinks/json-log.js';
import { makeEvent } from './helpers.js';

const path = process.argv[2]!;
const counts: Record<string, number> = { delivered: 0, dropped: 0, errors: 0 };
const obs = createJsonLogObserver({ path, retryMs: 60_000 }, { count: (k, n) => { counts[k] = (counts[k] ?? 0) + n; } });
const batch = (n: number, tag: string) => Array.from({ length: n }, (_, i) => makeEvent({ userAgent: `${tag}-${i}` }));
obs.observe(batch(2, 'a'));
obs.observe(batch(10, 'b'));
const afterPartial = { ...counts };
obs.close?.();
process.stdout.write(JSON.stringify({ afterPartial, final: counts }) + '\n');
