/**
 * Runs regexes over the adversarial corpus in a worker thread, with a watchdog that terminates the worker when
 * one call stalls (a catastrophic pattern never returns by itself) and carries on with the next regex.
 */
import { Worker } from 'node:worker_threads';

export interface RegexJob {
  index: number;
  source: string;
  flags: string;
}
export interface RegexVerdict {
  index: number;
  /** Slowest single call (minimum of repetitions); Infinity when the watchdog had to stop it. */
  worstMs: number;
  worstInput: string;
  error: string | null;
}

const WORKER_URL = new URL('./regex-worker.ts', import.meta.url).href;

/** Checks every job; `stallMs` is how long one call may run before it is declared catastrophic. */
export async function checkRegexes(jobs: RegexJob[], boundMs: number, stallMs: number): Promise<RegexVerdict[]> {
  const verdicts: RegexVerdict[] = [];
  const stalls = new Map<number, number>();
  const done = new Set<number>();
  let pending = jobs;
  while (pending.length > 0) {
    const progress = new SharedArrayBuffer(12);
    const p = new Int32Array(progress);
    // A worker does not inherit the TypeScript loader: a small ESM bootstrap registers it, then loads the worker.
    const bootstrap = `import('tsx/esm/api').then((m) => m.tsImport(${JSON.stringify(WORKER_URL)}, ${JSON.stringify(import.meta.url)}))`;
    const worker = new Worker(bootstrap, {
      eval: true,
      workerData: { jobs: pending, progress, boundMs },
    });
    const stalled = await new Promise<number | null>((resolve, reject) => {
      let last = -1;
      let since = Date.now();
      const tick = setInterval(() => {
        const calls = Atomics.load(p, 1);
        if (Atomics.load(p, 2) === 0 || calls !== last) {
          last = calls;
          since = Date.now();
        } else if (Date.now() - since > stallMs) {
          clearInterval(tick);
          resolve(Atomics.load(p, 0));
        }
      }, 50);
      worker.on('message', (m: RegexVerdict | { done: true }) => {
        if ('done' in m) {
          clearInterval(tick);
          resolve(null);
        } else {
          verdicts.push(m);
          done.add(m.index);
        }
      });
      worker.on('error', (err) => {
        clearInterval(tick);
        reject(err);
      });
    });
    await worker.terminate();
    if (stalled === null) break;
    // A loaded machine can pause a thread for seconds: a regex is declared catastrophic on its second stall.
    const n = (stalls.get(stalled) ?? 0) + 1;
    stalls.set(stalled, n);
    if (!done.has(stalled) && n >= 2) {
      verdicts.push({ index: stalled, worstMs: Infinity, worstInput: `(one call ran over ${stallMs} ms, twice, and was stopped)`, error: null });
      done.add(stalled);
    }
    pending = pending.filter((j) => !done.has(j.index));
  }
  return verdicts.sort((a, b) => a.index - b.index);
}
