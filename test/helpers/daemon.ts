/**
 * Test helper: runs the real daemon (compiled `dist/main.js`, as `bin/sipwarden` does) as a child process
 * on free ports with a temporary data dir, and parses the command-line contract `listening` lines from stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = process.env.SIPWARDEN_TEST_ROOT ?? fileURLToPath(new URL('../..', import.meta.url));
export const MAIN = join(ROOT, 'dist', 'main.js');

export interface Listening {
  kind: 'udp' | 'tcp' | 'tls' | 'http' | 'p2p';
  /** For p2p: the multiaddr. */
  addr: string;
  host: string;
  port: number;
}

export interface Daemon {
  proc: ChildProcess;
  pid: number;
  dataDir: string;
  listening: Listening[];
  /** All stderr so far. */
  stderr(): string;
  stdout(): string;
  /** First listener of a kind (optionally of an address family). */
  endpoint(kind: Listening['kind'], family?: 4 | 6): Listening;
  /** Sends a signal and waits for exit; resolves the exit code (or signal name). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
  /** Resolves when the process exits. */
  exited: Promise<number | string>;
}

export interface StartOptions {
  /** Extra environment. */
  env?: Record<string, string>;
  /** Reuse a data dir (restart tests); default: a new temp dir, removed by `cleanup()`. */
  dataDir?: string;
  /** Wait until at least these many listening lines of each kind appeared. Default `{ udp: 1 }`. */
  expect?: Partial<Record<Listening['kind'], number>>;
  timeoutMs?: number;
  /** Do not add `--data-dir` automatically. */
  noDataDir?: boolean;
  /** Working directory of the daemon (default: the test runner's). */
  cwd?: string;
  /** Command prefix run before node, e.g. `['ip', 'netns', 'exec', 'nsB']` (it must exec node in place). */
  prefix?: string[];
}

const LISTEN_RE = /^sipwarden: listening (udp|tcp|tls|http|p2p) (.+)$/;

/** A `listening` line, as text or (with `--log-format json`) as a JSON object with `kind` and `address`. */
function parseListening(line: string): Listening | null {
  let kind: Listening['kind'];
  let addr: string;
  const m = LISTEN_RE.exec(line.trim());
  if (m) {
    kind = m[1] as Listening['kind'];
    addr = m[2]!;
  } else if (line.startsWith('{') && line.includes('"msg":"listening"')) {
    try {
      const o = JSON.parse(line) as { msg?: string; kind?: string; address?: string };
      if (o.msg !== 'listening' || typeof o.kind !== 'string' || typeof o.address !== 'string') return null;
      kind = o.kind as Listening['kind'];
      addr = o.address;
    } catch {
      return null;
    }
  } else {
    return null;
  }
  if (kind === 'p2p') {
    const pm = /\/ip[46]\/([^/]+)\/tcp\/(\d+)/.exec(addr);
    return { kind, addr, host: pm?.[1] ?? '', port: pm ? Number(pm[2]) : 0 };
  }
  const hm = /^\[?([^\]]*?)\]?:(\d+)$/.exec(addr);
  return { kind, addr, host: hm?.[1] ?? addr, port: hm ? Number(hm[2]) : 0 };
}

/** Makes a temporary directory under the OS temp dir. */
export function tempDir(prefix = 'sipwarden-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Removes a temp dir, ignoring errors. */
export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Starts `node dist/main.js ...args --data-dir <tmp>` and waits for the expected listening lines.
 * Rejects (after killing the child) if it exits early or the timeout passes.
 */
export async function startDaemon(args: string[], opts: StartOptions = {}): Promise<Daemon> {
  const dataDir = opts.dataDir ?? tempDir();
  const fullArgs = [MAIN, ...args];
  if (!opts.noDataDir && !args.includes('--data-dir')) fullArgs.push('--data-dir', dataDir);
  const cmd = opts.prefix?.length ? opts.prefix[0]! : process.execPath;
  const cmdArgs = opts.prefix?.length ? [...opts.prefix.slice(1), process.execPath, ...fullArgs] : fullArgs;
  const proc = spawn(cmd, cmdArgs, {
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  const listening: Listening[] = [];
  const exited = new Promise<number | string>((resolve) => {
    proc.on('exit', (code, sig) => resolve(code ?? sig ?? -1));
  });
  const expect = opts.expect ?? { udp: 1 };
  const satisfied = (): boolean =>
    Object.entries(expect).every(([k, n]) => listening.filter((l) => l.kind === k).length >= (n ?? 0));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`daemon did not become ready in ${opts.timeoutMs ?? 60_000} ms; stderr:\n${err}`));
    }, opts.timeoutMs ?? 60_000);
    let partial = '';
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => {
      err += d;
      partial += d;
      let i: number;
      while ((i = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, i);
        partial = partial.slice(i + 1);
        const l = parseListening(line);
        if (l) listening.push(l);
      }
      if (satisfied()) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (d: string) => (out += d));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited early (${code}); stderr:\n${err}`));
    });
  });
  return {
    proc,
    pid: proc.pid!,
    dataDir,
    listening,
    stderr: () => err,
    stdout: () => out,
    exited,
    endpoint(kind, family) {
      const l = listening.find((x) => x.kind === kind && (!family || (family === 6) === x.host.includes(':')));
      if (!l) throw new Error(`no ${kind}${family ? ' v' + family : ''} listener; stderr:\n${err}`);
      return l;
    },
    async stop(signal = 'SIGTERM', timeoutMs = 8000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Runs the CLI to completion (for config/usage tests). */
export async function runCli(
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [MAIN, ...args], {
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const t = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 15000);
  const code = await new Promise<number | null>((r) => proc.on('close', (c) => r(c)));
  clearTimeout(t);
  return { code, stdout, stderr };
}

/** Polls `fn` until it returns a truthy value or the timeout passes. */
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 5000, intervalMs = 50): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: T;
  for (;;) {
    last = await fn();
    if (last) return last as NonNullable<T>;
    if (Date.now() > end) throw new Error(`waitFor timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
