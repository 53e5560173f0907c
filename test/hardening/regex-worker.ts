/**
 * Worker of the regex linearity test: runs each regex over the adversarial corpus and reports the slowest call.
 * Progress goes through a shared counter so the parent can terminate the worker when one call never returns
 * (an exponential pattern cannot be interrupted from inside its own thread).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { adversarialCorpus, prefixedCorpus, prefixesFor } from './regex-corpus.js';

interface Job {
  index: number;
  source: string;
  flags: string;
}
const { jobs, progress, boundMs } = workerData as { jobs: Job[]; progress: SharedArrayBuffer; boundMs: number };
const p = new Int32Array(progress);

/**
 * One match attempt (exec from the start; a global regex too): backtracking blow-up happens inside a single
 * attempt, while a replace-all over 64 Ki matches is linear work that the per-message budget test bounds.
 */
function once(re: RegExp, s: string): number {
  re.lastIndex = 0;
  const t0 = performance.now();
  re.exec(s);
  return performance.now() - t0;
}

/** Makes a rope string flat once, so timing measures the regex and not the copy. */
function flat(s: string): string {
  /\uffff/.test(s);
  return s;
}

/** The shared corpus, built as it is first walked and kept for the next regexes of this worker. */
const corpusCache: string[] = [];
const corpusGen = adversarialCorpus();
function* corpus(): Generator<string> {
  for (let k = 0; ; k++) {
    if (k === corpusCache.length) {
      const next = corpusGen.next();
      if (next.done === true) return;
      corpusCache.push(flat(next.value));
    }
    yield corpusCache[k]!;
  }
}
Atomics.store(p, 2, 1); // ready: the parent's watchdog starts now (loading this worker can be slow under load)
for (const job of jobs) {
  Atomics.store(p, 0, job.index);
  let re: RegExp;
  try {
    re = new RegExp(job.source, job.flags);
  } catch (err) {
    parentPort!.postMessage({ index: job.index, worstMs: 0, worstInput: '', error: String(err) });
    continue;
  }
  let worstMs = 0;
  let worstInput = '';
  const measure = (s: string): void => {
    Atomics.add(p, 1, 1);
    let ms = once(re, s);
    // Over the bound once may be the machine's load (a preempted thread): the minimum of repetitions is the
    // regex's own cost. A super-linear regex is over the bound on every repetition.
    for (let r = 0; r < 9 && ms > boundMs; r++) ms = Math.min(ms, once(re, s));
    if (ms > worstMs) {
      worstMs = ms;
      worstInput = JSON.stringify(s.slice(0, 24)) + `… (${s.length} chars)`;
    }
  };
  // The first input over the bound settles the verdict: stop there (a slow regex would make the rest slow too).
  const inputs = function* (): Generator<string> {
    yield* corpus();
    // Unanchored regexes already try every position; anchored ones also get inputs that pass their literal start.
    if (job.source.startsWith('^')) for (const pre of prefixesFor(job.source)) for (const s of prefixedCorpus(pre)) yield flat(s);
  };
  for (const s of inputs()) {
    measure(s);
    if (worstMs > boundMs) break;
  }
  parentPort!.postMessage({ index: job.index, worstMs, worstInput, error: null });
}
parentPort!.postMessage({ done: true });
