/**
 * End to end in network namespaces: probes from namespace A reach the real daemon in namespace B over a veth
 * pair; the daemon (-s) logs through a foreground rsyslogd in B; a real fail2ban-server in B with the shipped
 * filter and jail bans A via nftables; the next UDP and TCP probes from A no longer arrive (checked in the
 * daemon's own rows); `unbanip` restores them. IPv4 and IPv6.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, startDaemon, tempDir, waitFor, type Daemon } from '../helpers/daemon.js';
import { DEPLOY_F2B, startRsyslog, type Rsyslog } from './helpers.js';

const tag = `${process.pid % 100000}${Math.floor(Math.random() * 100)}`;
const NS_A = `swA${tag}`;
const NS_B = `swB${tag}`;
const V4_A = '198.18.0.1';
const V4_B = '198.18.0.2';
const V6_A = '2001:db8::1';
const V6_B = '2001:db8::2';

function sh(cmd: string, args: string[], allowFail = false): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout + r.stderr;
}
const inB = (...args: string[]): string[] => ['ip', 'netns', 'exec', NS_B, ...args];

// Sends one SIP OPTIONS over UDP and one over TCP from namespace A; prints what happened.
const PROBE_JS = `
const dgram = require('node:dgram'), net = require('node:net');
const [host, port, tagv] = process.argv.slice(2);
const fam = host.includes(':') ? 6 : 4;
const msg = (t) => Buffer.from('OPTIONS sip:100@' + (fam === 6 ? '[' + host + ']' : host) + ' SIP/2.0\\r\\nVia: SIP/2.0/' + t + ' x.invalid;branch=z9hG4bK' + tagv + t + '\\r\\nFrom: <sip:p@x.invalid>;tag=' + tagv + '\\r\\nTo: <sip:100@x.invalid>\\r\\nCall-ID: ' + tagv + t + '@f2b\\r\\nCSeq: 1 OPTIONS\\r\\nUser-Agent: f2b-e2e\\r\\nContent-Length: 0\\r\\n\\r\\n');
const s = dgram.createSocket('udp' + fam);
s.send(msg('UDP'), +port, host, () => {
  s.close();
  const c = net.connect({ host, port: +port, timeout: 1500 });
  const done = (r) => { console.log(JSON.stringify({ tcp: r })); c.destroy(); };
  c.on('connect', () => { c.write(msg('TCP')); setTimeout(() => done('sent'), 200); });
  c.on('timeout', () => done('timeout'));
  c.on('error', (e) => done(e.code || 'error'));
});
`;

describe('fail2ban bans through nftables (netns e2e)', { timeout: 110_000 }, () => {
  let dir: string;
  let rs: Rsyslog | null = null;
  let daemon: Daemon | null = null;
  let f2b: ChildProcess | null = null;
  let conf: string;

  before(async () => {
    dir = tempDir('sw-f2b-');
    sh('ip', ['netns', 'add', NS_A]);
    sh('ip', ['netns', 'add', NS_B]);
    sh('ip', ['link', 'add', `va${tag}`, 'netns', NS_A, 'type', 'veth', 'peer', 'name', `vb${tag}`, 'netns', NS_B]);
    for (const [ns, dev, v4, v6] of [[NS_A, `va${tag}`, V4_A, V6_A], [NS_B, `vb${tag}`, V4_B, V6_B]] as const) {
      sh('ip', ['-n', ns, 'addr', 'add', `${v4}/30`, 'dev', dev]);
      sh('ip', ['-n', ns, '-6', 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad']);
      sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    writeFileSync(join(dir, 'probe.cjs'), PROBE_JS);

    rs = await startRsyslog(join(dir, 'rsyslog'), { prefix: ['ip', 'netns', 'exec', NS_B] });
    writeFileSync(rs.file, '', { flag: 'a' }); // fail2ban needs the log file to exist at start

    // fail2ban config: Debian's files, no distro jails, private socket/pid/log, in-memory db, our filter + jail.
    conf = join(dir, 'f2b');
    cpSync('/etc/fail2ban', conf, { recursive: true });
    for (const f of readdirSync(join(conf, 'jail.d'))) rmSync(join(conf, 'jail.d', f), { recursive: true });
    writeFileSync(
      join(conf, 'fail2ban.local'),
      `[Definition]\nloglevel = INFO\nlogtarget = ${join(dir, 'f2b.log')}\nsocket = ${join(dir, 'f2b.sock')}\npidfile = ${join(dir, 'f2b.pid')}\ndbfile = :memory:\n`,
    );
    copyFileSync(join(DEPLOY_F2B, 'filter.d', 'sipwarden.conf'), join(conf, 'filter.d', 'sipwarden.conf'));
    copyFileSync(join(DEPLOY_F2B, 'jail.d', 'sipwarden.conf'), join(conf, 'jail.d', 'sipwarden.conf'));
    mkdirSync(join(conf, 'jail.d'), { recursive: true });
    writeFileSync(join(conf, 'jail.d', 'zz-test.local'), `[sipwarden]\nlogpath = ${rs.file}\nbackend = polling\n`);
    f2b = spawn('ip', ['netns', 'exec', NS_B, 'fail2ban-server', '-f', '-x', '-c', conf], { stdio: 'ignore' });
    await waitFor(() => sh('fail2ban-client', ['-c', conf, 'status', 'sipwarden'], true).includes('Currently banned'), 20_000, 200);

    daemon = await startDaemon(
      ['-s', '--syslog-target', `unix:${rs.socket}`, '--sip-listen', `${V4_B}:5060`, '--sip-listen', `[${V6_B}]:5060`, '--no-tls'],
      { prefix: ['ip', 'netns', 'exec', NS_B], expect: { udp: 2, tcp: 2 } },
    );
  });

  after(async () => {
    await daemon?.stop().catch(() => undefined);
    if (f2b && f2b.exitCode === null) {
      sh('fail2ban-client', ['-c', conf, 'stop'], true);
      await new Promise((r) => setTimeout(r, 300));
      if (f2b.exitCode === null) f2b.kill('SIGKILL');
    }
    await rs?.stop();
    sh('ip', ['netns', 'del', NS_A], true);
    sh('ip', ['netns', 'del', NS_B], true);
    if (dir) cleanup(dir);
  });

  let n = 0;
  function probeFromA(host: string): string {
    const out = sh('ip', ['netns', 'exec', NS_A, process.execPath, join(dir, 'probe.cjs'), host, '5060', `p${tag}x${++n}`]);
    return (JSON.parse(out.trim().split('\n').at(-1)!) as { tcp: string }).tcp;
  }
  function rows(ip: string): { UDP: number; TCP: number } {
    const db = new Database(join(daemon!.dataDir, 'sipwarden.db'), { readonly: true, fileMustExist: true });
    try {
      const r = db.prepare('SELECT transport_type t, COUNT(*) c FROM honey WHERE source_ip = ? GROUP BY transport_type').all(ip) as Array<{ t: 'UDP' | 'TCP'; c: number }>;
      return { UDP: r.find((x) => x.t === 'UDP')?.c ?? 0, TCP: r.find((x) => x.t === 'TCP')?.c ?? 0 };
    } finally {
      db.close();
    }
  }
  const banned = (): string => sh('fail2ban-client', ['-c', conf, 'status', 'sipwarden'], true);

  for (const [fam, src, dst] of [['IPv4', V4_A, V4_B], ['IPv6', V6_A, V6_B]] as const) {
    test(`${fam}: first probe arrives and is logged, A is banned, UDP and TCP then blocked; unban restores`, async () => {
      assert.equal(probeFromA(dst), 'sent');
      await waitFor(() => rows(src).UDP === 1 && rows(src).TCP === 1, 8000);
      await waitFor(() => rs!.lines().some((l) => l.includes(`sipwarden[${daemon!.pid}]: Source IP: ${src}, Method: OPTIONS, Agent: f2b-e2e`)), 8000);
      await waitFor(() => banned().includes(src), 10_000, 100);
      // The jail lists the ban before its nftables action has run: wait for the element itself.
      const setName = fam === 'IPv4' ? 'addr-set-sipwarden' : 'addr6-set-sipwarden';
      const inSet = (): boolean =>
        new RegExp(`elements = \\{[^}]*${src.replace(/\./g, '\\.')}`).test(sh('ip', ['netns', 'exec', NS_B, 'nft', 'list', 'set', 'inet', 'f2b-table', setName], true));
      await waitFor(inSet, 10_000, 100);
      const rule = sh('ip', ['netns', 'exec', NS_B, 'nft', 'list', 'chain', 'inet', 'f2b-table', 'f2b-chain']);
      assert.match(rule, /udp dport \{ 5060, 5061 \}/);
      assert.match(rule, /tcp dport \{ 5060, 5061 \}/);

      const tcp = probeFromA(dst);
      assert.notEqual(tcp, 'sent', 'TCP connection must be refused while banned');
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(rows(src), { UDP: 1, TCP: 1 }, 'no probe reached the daemon while banned');

      sh('fail2ban-client', ['-c', conf, 'set', 'sipwarden', 'unbanip', src]);
      await waitFor(() => !inSet(), 10_000, 100);
      assert.equal(probeFromA(dst), 'sent');
      await waitFor(() => rows(src).UDP === 2 && rows(src).TCP === 2, 8000);
      // The new probe is logged again, so A is banned again (maxretry = 1).
      await waitFor(inSet, 10_000, 100);
    });
  }

  test('the daemon is healthy and never saw the blocked probes', () => {
    assert.ok(existsSync(join(daemon!.dataDir, 'sipwarden.db')));
    assert.equal(daemon!.proc.exitCode, null);
  });
});
