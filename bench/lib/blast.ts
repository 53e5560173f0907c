/** Bench helper: compiles bench/lib/blast.c once (gcc) and runs it. Loopback only. */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const buildDir = join(here, '..', '.build');

/** Path of the compiled blaster, building it when the source is newer. */
export function blasterPath(): string {
  const src = join(here, 'blast.c');
  const bin = join(buildDir, 'blast');
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(buildDir, { recursive: true });
    execFileSync('gcc', ['-O2', '-o', bin, src]);
  }
  return bin;
}

export interface BlastResult {
  sent: number;
  seconds: number;
  replies: number;
  errors: number;
}

/**
 * Sends `pps` datagrams/s (0 = as fast as possible) for `seconds` from `sources` addresses (loopback
 * 127.0.1.1.., or `sourceBase`+1.. ); `prefix` runs the blaster under another command (`ip netns exec NS`).
 */
export async function blast(opts: {
  host: string;
  port: number;
  seconds: number;
  pps: number;
  size?: number;
  kind?: 'OPTIONS' | 'INVITE';
  sources?: number;
  sourceBase?: string;
  prefix?: string[];
}): Promise<BlastResult> {
  const bin = blasterPath();
  const args = [opts.host, String(opts.port), String(opts.seconds), String(opts.pps), String(opts.size ?? 500), opts.kind ?? 'OPTIONS', String(opts.sources ?? 64), ...(opts.sourceBase ? [opts.sourceBase] : [])];
  return new Promise((resolve, reject) => {
    const cmd = opts.prefix?.length ? [...opts.prefix, bin, ...args] : [bin, ...args];
    const p = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), (opts.seconds + 10) * 1000);
    p.on('close', (code) => {
      clearTimeout(t);
      if (code !== 0) return reject(new Error(`blast exited ${code}`));
      resolve(JSON.parse(out.trim()) as BlastResult);
    });
  });
}
