import { spawn } from 'node:child_process';

/** Outcome of one tool run. `missing` is true when the program does not exist (ENOENT). */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  missing: boolean;
}

/** Runs a tool with `input` on stdin (one process per batch of changes, never one per address). */
export type Exec = (file: string, args: readonly string[], input?: string) => Promise<ExecResult>;

/** Output kept per stream; tool listings of 500,000 elements are read by counting, not kept whole. */
const MAX_OUTPUT = 64 * 1024 * 1024;

/** The real {@link Exec}: spawns without a shell, bounded output, 60 s timeout. */
export const execTool: Exec = (file, args, input) =>
  new Promise((resolve) => {
    let child;
    try {
      child = spawn(file, args as string[], { stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 });
    } catch (err) {
      resolve({ code: 127, stdout: '', stderr: (err as Error).message, missing: (err as NodeJS.ErrnoException).code === 'ENOENT' });
      return;
    }
    const out: Buffer[] = [];
    const errb: Buffer[] = [];
    let outLen = 0;
    let missing = false;
    child.stdout.on('data', (b: Buffer) => { if (outLen < MAX_OUTPUT) { out.push(b); outLen += b.length; } });
    child.stderr.on('data', (b: Buffer) => { if (errb.length < 256) errb.push(b); });
    child.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') missing = true; errb.push(Buffer.from(err.message)); });
    child.stdin.on('error', () => undefined); // the tool may exit before reading everything
    child.on('close', (code) => {
      resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errb).toString('utf8').trim(), missing });
    });
    child.stdin.end(input ?? '');
  });
