/**
 * deploy/logrotate/sipwarden with the real `logrotate -f` and a state file, against a running daemon: the
 * postrotate SIGHUP (here through a pid file, as any non-systemd supervisor would keep) makes the daemon open a new
 * JSON log; lines written before a rotation are in the rotated file, lines after it in the new one, none lost or
 * doubled, and the second rotation compresses the first (delaycompress). The shipped file is used with its paths
 * moved into a temp dir and its systemd branch pointed at a directory that does not exist.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, describe, test } from 'node:test';
import { ROOT, cleanup, startDaemon, tempDir, type Daemon } from '../helpers/daemon.js';
import { freePort, sipRequest, udpExchange } from '../helpers/net.js';
import { sh, waitFor } from './util.js';

const dir = tempDir('sipwarden-logrotate-');
const logDir = join(dir, 'log');
const runDir = join(dir, 'run');
const log = join(logDir, 'sipwarden_json.log');
let daemon: Daemon | null = null;

after(async () => {
  await daemon?.stop();
  cleanup(dir);
});

function lines(file: string): string[] {
  if (!existsSync(file)) return [];
  const raw = file.endsWith('.gz') ? gunzipSync(readFileSync(file)).toString('utf8') : readFileSync(file, 'utf8');
  return raw.split('\n').filter((l) => l !== '');
}
const users = (file: string): string[] => lines(file).map((l) => (JSON.parse(l) as { called_number: string }).called_number);

describe('logrotate', { timeout: 120_000 }, () => {
  test('rotation with SIGHUP: every line lands in the right file, none lost', async () => {
    mkdirSync(logDir);
    mkdirSync(runDir);
    const shipped = readFileSync(join(ROOT, 'deploy', 'logrotate', 'sipwarden'), 'utf8');
    assert.match(shipped, /postrotate[\s\S]*kill -HUP[\s\S]*endscript/);
    assert.match(shipped, /systemctl kill --kill-who=main --signal=HUP 'sipwarden.service' 'sipwarden@\*.service'/);
    const conf = join(dir, 'logrotate.conf');
    writeFileSync(
      conf,
      shipped
        .replaceAll('/var/log/sipwarden', logDir)
        .replaceAll('/run/systemd/system', join(dir, 'no-systemd'))
        .replaceAll('/run/sipwarden', runDir),
      { mode: 0o644 },
    );
    const state = join(dir, 'logrotate.state');
    const port = await freePort();
    daemon = await startDaemon(['--sip-listen', `127.0.0.1:${port}`, '--no-tls', '-l', log], { dataDir: join(dir, 'data') });
    writeFileSync(join(runDir, 'sipwarden.pid'), `${daemon.pid}\n`);

    let n = 0;
    const send = async (count: number): Promise<string[]> => {
      const sent: string[] = [];
      for (let i = 0; i < count; i++) {
        const user = `rot${++n}`;
        sent.push(user);
        await udpExchange('127.0.0.1', port, sipRequest({ user }), 0);
      }
      return sent;
    };
    const rotate = (): void => void sh('logrotate', ['-f', '-s', state, conf], { timeoutMs: 30_000 });

    const first = await send(20);
    await waitFor(() => (lines(log).length >= 20 ? true : null), 15_000, 'first 20 lines');
    rotate();
    assert.deepEqual(users(`${log}.1`), first, 'lines before the rotation are in the rotated file');
    // The daemon opens the new file on its next write after the signal.
    await new Promise((r) => setTimeout(r, 300));
    const second = await send(20);
    await waitFor(() => (lines(log).length >= 20 ? true : null), 15_000, 'second 20 lines in the new file');
    assert.deepEqual(users(log), second, 'lines after the rotation are in the new file');
    assert.deepEqual(users(`${log}.1`), first, 'the rotated file got nothing more');

    rotate();
    await new Promise((r) => setTimeout(r, 300));
    const third = await send(10);
    await waitFor(() => (lines(log).length >= 10 ? true : null), 15_000, 'third batch');
    assert.ok(existsSync(`${log}.2.gz`), 'second rotation compresses the first rotated file');
    assert.deepEqual(users(`${log}.2.gz`), first);
    assert.deepEqual(users(`${log}.1`), second);
    assert.deepEqual(users(log), third);
    const all = [...users(`${log}.2.gz`), ...users(`${log}.1`), ...users(log)];
    assert.equal(new Set(all).size, 50, 'no line lost or doubled');
    assert.match(readFileSync(state, 'utf8'), /sipwarden_json\.log/);
    assert.equal(daemon.proc.exitCode, null, 'the daemon is still running');
  });
});
