/**
 * Helpers for the deployment tests: run an installed `sipwarden` (not dist/main.js) through any command line and
 * wait for its `listening` lines, and run commands inside a network namespace the test owns.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

export interface Listener {
  kind: string;
  host: string;
  port: number;
}

export interface Running {
  proc: ChildProcess;
  pid: number;
  listening: Listener[];
  stderr(): string;
  stdout(): string;
  exited: Promise<number | string>;
  /** SIGTERM (then SIGKILL after `timeoutMs`); resolves the exit code or signal. */
  stop(timeoutMs?: number): Promise<number | string>;
}

const LISTEN_RE = /^sipwarden: listening (udp|tcp|tls|http|p2p) (.+)$/;

/** Spawns `cmd args` and resolves once `expect` listening lines of each kind were printed on stderr. */
export function startCommand(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; expect?: Record<string, number>; timeoutMs?: number } = {},
): Promise<Running> {
  const proc = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let out = '';
  const listening: Listener[] = [];
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const expect = opts.expect ?? { udp: 1 };
  const running: Running = {
    proc,
    pid: proc.pid!,
    listening,
    stderr: () => err,
    stdout: () => out,
    exited,
    async stop(timeoutMs = 8000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${cmd} did not become ready; stderr:\n${err}`));
    }, opts.timeoutMs ?? 30_000);
    let partial = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      partial += d;
      let i: number;
      while ((i = partial.indexOf('\n')) >= 0) {
        const m = LISTEN_RE.exec(partial.slice(0, i).trim());
        partial = partial.slice(i + 1);
        if (!m) continue;
        const hm = /^\[?([^\]]*?)\]?:(\d+)$/.exec(m[2]!);
        const pm = /\/ip[46]\/([^/]+)\/tcp\/(\d+)/.exec(m[2]!);
        const hp = hm ?? pm;
        listening.push({ kind: m[1]!, host: hp?.[1] ?? m[2]!, port: hp ? Number(hp[2]) : 0 });
      }
      if (Object.entries(expect).every(([k, n]) => listening.filter((l) => l.kind === k).length >= n)) {
        clearTimeout(timer);
        resolve(running);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited early (${code}); stderr:\n${err}`));
    });
  });
}

/** Runs a command synchronously; throws with its output unless it exits 0 (or `allowFail`). */
export function sh(cmd: string, args: string[], opts: { allowFail?: boolean; timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000, cwd: opts.cwd, env: opts.env, maxBuffer: 256 << 20 });
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal ?? r.error}):\n${r.stdout}${r.stderr}`);
  }
  return `${r.stdout ?? ''}${r.stderr ?? ''}`;
}

/** A network namespace of this test's own, with its loopback up: 5060 and 8082 are free inside. */
export class NetNs {
  readonly name: string;
  constructor(tag: string) {
    this.name = `swShip${tag}${process.pid}`;
    sh('ip', ['netns', 'add', this.name]);
    sh('ip', ['netns', 'exec', this.name, 'ip', 'link', 'set', 'lo', 'up']);
  }
  /** Prefix that runs a command inside the namespace. */
  exec(...args: string[]): string[] {
    return ['ip', 'netns', 'exec', this.name, ...args];
  }
  remove(): void {
    sh('ip', ['netns', 'del', this.name], { allowFail: true });
  }
}

/** Polls `fn` until it returns a non-null value or the time is up. */
export async function waitFor<T>(fn: () => T | null | undefined, timeoutMs: number, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
