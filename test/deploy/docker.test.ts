/**
 * The Dockerfile, carried out without a container engine (none runs here): a small parser reads its stages, the
 * `deps` stage's RUN line (the real `npm ci --omit=dev` + native rebuild) runs in a clean temp dir, the final stage
 * is assembled from its COPY lines (dist/ from this test run's build rather than the build stage's compiler) and its
 * RUN lines, with the image's absolute paths moved under the temp dir. ENTRYPOINT + CMD then run with the ENV lines,
 * as USER's uid (setpriv), inside a network namespace of the test's own where 5060 and 8082 are free. Checked: the
 * SIP, TLS, API and P2P ports (all above 1023, so bound with no capability at all), the volume path, SENTRYPEER_*
 * variables and the HEALTHCHECK command; and that a listener below 1024 fails without CAP_NET_BIND_SERVICE and
 * works with that one capability and no other.
 * apt-get and groupadd/useradd lines are not run: they would change the host.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, cleanup, tempDir } from '../helpers/daemon.js';
import { queryDb, runTool } from '../helpers/net.js';
import { NetNs, sh, startCommand, waitFor, type Running } from './util.js';

// ------------------------------------------------------------------ a tiny Dockerfile reader

interface Instr {
  op: string;
  args: string;
}
interface Stage {
  name: string;
  instrs: Instr[];
}

function parseDockerfile(text: string): { globalArgs: Map<string, string>; stages: Stage[] } {
  const logical: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw) && cur === '') continue;
    if (/^\s*#/.test(raw)) continue; // comment lines inside a continuation are dropped, as Docker does
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      cur += line.slice(0, -1) + ' ';
      continue;
    }
    cur += line;
    if (cur.trim() !== '') logical.push(cur.trim());
    cur = '';
  }
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^(\w+)\s+(.*)$/.exec(l);
    assert.ok(m, `unparsable Dockerfile line: ${l}`);
    const op = m[1]!.toUpperCase();
    const args = m[2]!;
    if (op === 'FROM') {
      const am = /\bAS\s+(\S+)\s*$/i.exec(args);
      stages.push({ name: am ? am[1]! : `stage${stages.length}`, instrs: [] });
    } else if (stages.length === 0) {
      assert.equal(op, 'ARG', `only ARG may precede FROM: ${l}`);
      const [k, v] = args.split('=');
      globalArgs.set(k!, v ?? '');
    } else {
      stages[stages.length - 1]!.instrs.push({ op, args });
    }
  }
  return { globalArgs, stages };
}

/** `ENV A=1 B=2` / `ENV A 1` */
function envPairs(args: string): [string, string][] {
  if (!args.includes('=')) {
    const [k, ...v] = args.split(/\s+/);
    return [[k!, v.join(' ')]];
  }
  return [...args.matchAll(/(\w+)=("([^"]*)"|\S+)/g)].map((m) => [m[1]!, m[3] ?? m[2]!]);
}

/** `COPY [--from=x] src... dest` */
function copyArgs(args: string): { from: string | null; srcs: string[]; dest: string } {
  const parts = args.split(/\s+/);
  let from: string | null = null;
  if (parts[0]!.startsWith('--from=')) from = parts.shift()!.slice('--from='.length);
  const dest = parts.pop()!;
  return { from, srcs: parts, dest };
}

function jsonArray(args: string): string[] {
  const v = JSON.parse(args) as unknown;
  assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), `exec form expected: ${args}`);
  return v as string[];
}

// ------------------------------------------------------------------ the test

const dir = tempDir('sipwarden-docker-');
chmodSync(dir, 0o755); // the image user must reach the tree
const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const stage = (name: string): Stage => {
  const s = dockerfile.stages.find((x) => x.name === name);
  assert.ok(s, `no stage ${name}`);
  return s;
};
const finalStage = dockerfile.stages[dockerfile.stages.length - 1]!;
const depsRoot = join(dir, 'deps');
const imgRoot = join(dir, 'image');
/** The image's absolute paths under the temp dir. */
const IMAGE_PREFIXES = ['/opt/sipwarden', '/data'];
function inImage(s: string): string {
  let out = s;
  for (const p of IMAGE_PREFIXES) {
    out = out.replace(new RegExp(`(^|[\\s"'=,\\[])${p.replace(/\//g, '\\/')}(?=/|$|[\\s"',\\]])`, 'g'), `$1${imgRoot}${p}`);
  }
  return out;
}

const skipped: string[] = [];
let uid = 0;
let gid = 0;
const env: Record<string, string> = {};
let workdir = imgRoot;
let volume = '';
let entrypoint: string[] = [];
let cmd: string[] = [];
let healthcheck: string[] = [];
let exposed: string[] = [];
let ns: NetNs | null = null;
let daemon: Running | null = null;

const nodeOf = (argv: string[]): string[] => (argv[0] === 'node' ? [process.execPath, ...argv.slice(1)] : argv);
function setprivArgs(withCap: boolean): string[] {
  const caps = withCap ? '-all,+net_bind_service' : '-all';
  return [
    'setpriv', '--reuid', String(uid), '--regid', String(gid), '--clear-groups',
    '--inh-caps', caps, '--ambient-caps', caps, '--bounding-set', caps, '--no-new-privs', '--',
  ];
}
/** The fields of /proc/PID/status. */
function procStatus(pid: number): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
  );
}
/** Runs argv to completion (bounded) in the image's working directory. */
function runSync(argv: string[], e: NodeJS.ProcessEnv): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: workdir, env: e, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
function runEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: `${imgRoot}/data`, ...env, ...extra };
}

after(async () => {
  await daemon?.stop();
  ns?.remove();
  cleanup(dir);
});

describe('Docker image steps (no engine: run on the host as the image would)', { timeout: 1_100_000 }, () => {
  before(() => {
    // ---- deps stage: a clean dir, the files it copies, its RUN lines as written (NODEDIR as a build argument).
    const args = new Map(dockerfile.globalArgs);
    let cwd = depsRoot;
    const stageEnv: Record<string, string> = {};
    for (const { op, args: a } of stage('deps').instrs) {
      if (op === 'ARG') {
        const [k, v] = a.split('=');
        args.set(k!, k === 'NODEDIR' ? '/usr' : (v ?? '')); // this host's Node headers are in /usr/include/node
      } else if (op === 'WORKDIR') {
        cwd = join(depsRoot, a);
        mkdirSync(cwd, { recursive: true });
      } else if (op === 'COPY') {
        const c = copyArgs(a);
        assert.equal(c.from, null);
        for (const s of c.srcs) cpSync(join(ROOT, s), join(c.dest.endsWith('/') ? join(cwd, c.dest, s) : join(cwd, c.dest)));
      } else if (op === 'ENV') {
        for (const [k, v] of envPairs(a)) stageEnv[k] = v;
      } else if (op === 'RUN') {
        if (/^apt-get\b/.test(a)) {
          skipped.push(a);
          continue;
        }
        const t0 = Date.now();
        // timeout(1) signals the whole process group, so no compiler outlives a stuck step.
        sh('timeout', ['-k', '10', '900', 'sh', '-ec', a], {
          cwd,
          timeoutMs: 920_000,
          env: { ...process.env, ...Object.fromEntries(args), ...stageEnv, npm_config_prefer_offline: 'true' },
        });
        process.stderr.write(`# deps RUN took ${((Date.now() - t0) / 1000).toFixed(0)} s: ${a}\n`);
      }
    }
    // ---- build stage: its compiler step is what `npm test` ran before this file (tsc -p tsconfig.build.json).
    assert.ok(stage('build').instrs.some((i) => i.op === 'RUN' && i.args === 'npm run build'));
    assert.ok(existsSync(join(ROOT, 'dist', 'main.js')));

    // ---- final stage
    mkdirSync(imgRoot, { recursive: true });
    chmodSync(imgRoot, 0o755);
    for (const { op, args: a } of finalStage.instrs) {
      if (op === 'RUN') {
        if (/^(groupadd|useradd)\b/.test(a)) {
          uid = Number(/--uid (\d+)/.exec(a)?.[1]);
          gid = Number(/--gid (\d+)/.exec(a)?.[1]);
          skipped.push(a);
          continue;
        }
        sh('sh', ['-ec', inImage(a)], { cwd: imgRoot });
      } else if (op === 'COPY') {
        const c = copyArgs(a);
        const dest = join(imgRoot, c.dest);
        for (const s of c.srcs) {
          let from: string;
          if (c.from === 'deps') from = join(depsRoot, s);
          else if (c.from === 'build') from = join(ROOT, s.replace(/^\/src\//, ''));
          else if (c.from === null) from = join(ROOT, s);
          else throw new Error(`COPY --from=${c.from} not understood`);
          const to = c.dest.endsWith('/') ? join(dest, s.split('/').pop()!) : dest;
          mkdirSync(dirname(to), { recursive: true });
          cpSync(from, to, { recursive: true, verbatimSymlinks: true });
        }
      } else if (op === 'ENV') {
        for (const [k, v] of envPairs(a)) env[k] = inImage(v);
      } else if (op === 'VOLUME') {
        volume = inImage(jsonArray(a)[0]!);
      } else if (op === 'WORKDIR') {
        workdir = inImage(a);
      } else if (op === 'USER') {
        assert.equal(a, 'sipwarden:sipwarden');
      } else if (op === 'EXPOSE') {
        exposed = a.split(/\s+/);
      } else if (op === 'HEALTHCHECK') {
        healthcheck = jsonArray(/\bCMD\s+(\[.*\])$/.exec(a)![1]!).map(inImage);
      } else if (op === 'ENTRYPOINT') {
        entrypoint = jsonArray(a).map(inImage);
      } else if (op === 'CMD') {
        cmd = jsonArray(a);
      }
    }
    // Read access for the image user along the whole path.
    for (let p = dirname(imgRoot); p !== '/' && isAbsolute(p); p = dirname(p)) {
      if ((statSync(p).mode & 0o005) !== 0o005) throw new Error(`${p} is not world-searchable`);
    }
    ns = new NetNs('d');
  });

  test('the image is what the Dockerfile promises', () => {
    assert.match(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'), /^FROM \$\{NODE_IMAGE\}/m);
    assert.equal(dockerfile.globalArgs.get('NODE_IMAGE'), 'node:20-bookworm-slim');
    assert.ok(stage('deps').instrs.some((i) => i.op === 'RUN' && /npm ci --omit=dev\b/.test(i.args)));
    assert.ok(uid >= 1000 && gid >= 1000, `unprivileged uid/gid, got ${uid}:${gid}`);
    assert.deepEqual(exposed, ['5060/udp', '5060/tcp', '5061/tcp', '8082/tcp', '4222/tcp']);
    assert.equal(volume, join(imgRoot, 'data'));
    assert.equal(env.SIPWARDEN_DATA_DIR, volume);
    assert.equal(workdir, volume);
    assert.equal(statSync(volume).uid, uid, 'the volume belongs to the image user');
    const mods = join(imgRoot, 'opt/sipwarden/node_modules');
    assert.ok(existsSync(join(mods, 'better-sqlite3/build/Release/better_sqlite3.node')), 'native addon built');
    assert.ok(existsSync(join(mods, 'unix-dgram/build/Release/unix_dgram.node')), 'native addon built');
    for (const dev of ['typescript', 'tsx', 'fast-check', 'autocannon']) assert.ok(!existsSync(join(mods, dev)), `${dev} in the image`);
    assert.deepEqual(entrypoint, ['node', `${imgRoot}/opt/sipwarden/bin/sipwarden`]);
    assert.deepEqual(cmd, ['-r', '-a']);
    assert.ok(skipped.some((s) => s.startsWith('apt-get')) && skipped.some((s) => s.startsWith('groupadd')));
  });

  test('no capability at all: the default ports, the volume, SENTRYPEER_* variables, the health check', async () => {
    const [c, ...argv] = ns!.exec(...setprivArgs(false), ...nodeOf(entrypoint), ...cmd);
    daemon = await startCommand(c!, argv, {
      cwd: workdir,
      env: runEnv({
        SENTRYPEER_JSON_LOG: '1',
        SENTRYPEER_PEER_TO_PEER: '1',
        SENTRYPEER_TLS_LISTEN_ADDRESS: '0.0.0.0:5061',
      }),
      expect: { udp: 2, tcp: 2, tls: 1, http: 1, p2p: 1 },
      timeoutMs: 120_000,
    });
    // The process (ip netns exec and setpriv exec in place) runs as the image user with no capability.
    const status = procStatus(daemon.pid);
    assert.match(status.Name!, /node|MainThread/);
    assert.equal(status.Uid!.split(/\s+/)[0], String(uid));
    assert.equal(status.CapEff, '0000000000000000');
    assert.equal(status.CapBnd, '0000000000000000');
    assert.equal(status.NoNewPrivs, '1');

    const ports = (k: string): number[] => daemon!.listening.filter((l) => l.kind === k).map((l) => l.port);
    assert.ok(ports('udp').includes(5060) && ports('tcp').includes(5060), daemon.stderr());
    assert.deepEqual(ports('tls'), [5061], 'SENTRYPEER_TLS_LISTEN_ADDRESS replaces the TLS listeners');
    assert.deepEqual(daemon.listening.filter((l) => l.kind === 'http').map((l) => `${l.host}:${l.port}`), ['127.0.0.1:8082']);
    assert.ok(ports('p2p').includes(4222), 'SENTRYPEER_PEER_TO_PEER starts sharing on 4222');

    const sipsak = ns!.exec('sipsak', '-vv', '-s', 'sip:100@127.0.0.1:5060');
    const probe = await runTool(sipsak[0]!, sipsak.slice(1), 20_000);
    assert.equal(probe.code, 0, probe.stdout + probe.stderr);
    assert.match(probe.stdout, /SIP\/2\.0 200 OK/, 'answered: CMD -r');
    // The database and the JSON log (SENTRYPEER_JSON_LOG) land in the volume, owned by the image user.
    const rows = await waitFor(() => {
      if (!existsSync(join(volume, 'sipwarden.db'))) return null;
      const x = queryDb<{ user_agent: string }>(volume, "SELECT user_agent FROM honey WHERE user_agent LIKE 'sipsak%'");
      return x.length ? x : null;
    }, 15_000, 'the probe in the volume database');
    assert.equal(rows.length, 1);
    const jsonLog = join(volume, 'sipwarden_json.log');
    await waitFor(() => (existsSync(jsonLog) && readFileSync(jsonLog, 'utf8').includes('"sip_method":"OPTIONS"') ? true : null), 15_000, 'JSON log line');
    assert.equal(statSync(join(volume, 'sipwarden.db')).uid, uid);

    const hc = (): number | null => runSync(ns!.exec(...setprivArgs(false), ...nodeOf(healthcheck)), runEnv()).code;
    assert.equal(hc(), 0, 'health check passes while the daemon runs');
    assert.equal(await daemon.stop(), 0);
    daemon = null;
    assert.equal(hc(), 1, 'health check fails once the daemon stopped');
  });

  test('a listener below 1024 needs CAP_NET_BIND_SERVICE, and that capability alone is enough', async () => {
    const low = { SIPWARDEN_SIP_LISTEN: '127.0.0.1:999', SIPWARDEN_TLS: '0' };
    const denied = runSync(ns!.exec(...setprivArgs(false), ...nodeOf(entrypoint), ...cmd), runEnv(low));
    assert.notEqual(denied.code, 0, denied.stderr);
    assert.match(denied.stderr, /EACCES|permission denied/i);
    assert.match(denied.stderr, /999/);
    const [c, ...argv] = ns!.exec(...setprivArgs(true), ...nodeOf(entrypoint), ...cmd);
    daemon = await startCommand(c!, argv, { cwd: workdir, env: runEnv(low), expect: { udp: 1, http: 1 }, timeoutMs: 120_000 });
    assert.deepEqual(daemon.listening.filter((l) => l.kind === 'udp').map((l) => l.port), [999]);
    const status = procStatus(daemon.pid);
    assert.equal(status.CapEff, '0000000000000400'); // bit 10: CAP_NET_BIND_SERVICE
    assert.equal(status.CapBnd, '0000000000000400');
    assert.equal(status.CapAmb, '0000000000000400');
    assert.equal(await daemon.stop(), 0);
    daemon = null;
  });
});
