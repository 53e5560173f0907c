/** Bench helper: runs the built daemon (dist/main.js) and reads its metrics and RSS. */
import { readFileSync } from 'node:fs';
import { startDaemon, type Daemon } from '../../test/helpers/daemon.js';

export { startDaemon, type Daemon };

/** Resident set size of a process in MB (Linux /proc). */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Sum of a Prometheus counter (all label sets, or those containing every `labels` item). */
export async function metric(apiPort: number, name: string, labels: string[] = []): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (!labels.every((l) => line.includes(l))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Samples RSS every 100 ms until stopped; returns the peak. */
export function rssSampler(pid: number): { stop(): number } {
  let peak = 0;
  const t = setInterval(() => {
    try {
      peak = Math.max(peak, rssMb(pid));
    } catch {
      /* process gone */
    }
  }, 100);
  return {
    stop() {
      clearInterval(t);
      return peak;
    },
  };
}
