import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, formatConfigCheck, envBool, type CliOutcome } from '../../src/config/load.js';
import { SETTINGS, type SettingKey } from '../../src/config/settings.js';
import type { Config } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';
import { VERSION } from '../../src/version.js';

let root: string;
let cwd: string;
let home: string;
let certFile: string;
let keyFile: string;
let netKey: string;
let tokenFile: string;

before(() => {
  root = mkdtempSync(join(tmpdir(), 'sipwarden-config-'));
  cwd = join(root, 'work');
  home = join(root, 'home');
  mkdirSync(cwd);
  mkdirSync(home);
  certFile = join(root, 'cert.pem');
  keyFile = join(root, 'key.pem');
  netKey = join(root, 'swarm.key');
  writeFileSync(certFile, 'CERT');
  writeFileSync(keyFile, 'KEY');
  writeFileSync(netKey, 'PSK');
  tokenFile = join(root, 'tokens.txt');
  writeFileSync(tokenFile, 'ftok\n');
});
after(() => rmSync(root, { recursive: true, force: true }));

function load(argv: string[], env: NodeJS.ProcessEnv = {}, homeDir = home): CliOutcome {
  return loadConfig(argv, env, cwd, homeDir);
}
function cfg(argv: string[], env: NodeJS.ProcessEnv = {}, homeDir = home): Config {
  const o = load(argv, env, homeDir);
  assert.ok(o.kind === 'run' || o.kind === 'check', `expected run/check, got ${o.kind}`);
  return o.config;
}
function warnings(argv: string[], env: NodeJS.ProcessEnv = {}): string[] {
  const o = load(argv, env);
  assert.ok(o.kind === 'run' || o.kind === 'check');
  return o.warnings;
}
/** The one-line message main.ts prints for a ConfigError. */
function errLine(argv: string[], env: NodeJS.ProcessEnv = {}, homeDir = home): string {
  try {
    load(argv, env, homeDir);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `not a ConfigError: ${String(e)}`);
    assert.equal(e.exitCode, 2);
    const line = `sipwarden: error: ${e.where}: ${e.reason}`;
    assert.ok(!line.includes('\n'), `multi-line: ${line}`);
    return line;
  }
  assert.fail(`no error for ${JSON.stringify(argv)} ${JSON.stringify(env)}`);
}
function toml(name: string, text: string): string {
  const p = join(root, name);
  writeFileSync(p, text);
  return p;
}

/** A sample value for every setting: raw text, expected Config value, TOML value, extra CLI args it needs. */
interface Sample {
  raw?: string;
  want: unknown;
  toml?: unknown;
  with?: string[];
}
const w = (p: string): string => join(cwd, p);
function samples(): Record<Exclude<SettingKey, 'tls'>, Sample> {
  return {
    verbose: { want: true },
    debug: { want: true },
    logFormat: { raw: 'json', want: 'json' },
    dataDir: { raw: 'dd', want: w('dd') },
    dbFile: { raw: 'x.db', want: w('x.db') },
    jsonLog: { want: true },
    jsonLogFile: { raw: 'j.log', want: w('j.log') },
    responsive: { want: true },
    sipDisable: { want: true },
    sipListen: { raw: '127.0.0.1:5070', want: [{ ip: '127.0.0.1', port: 5070 }], toml: ['127.0.0.1:5070'] },
    tlsListen: { raw: '[::1]:5071', want: [{ ip: '::1', port: 5071 }], toml: ['[::1]:5071'] },
    cert: { raw: certFile, want: certFile, with: ['-k', keyFile] },
    key: { raw: keyFile, want: keyFile, with: ['-t', certFile] },
    responsiveProfile: { raw: 'asterisk', want: 'asterisk' },
    decoyExtensions: { raw: '100-105, alice', want: '100-105,alice' },
    decoyPassword: { raw: 'pw', want: 'pw' },
    redirectUri: { raw: 'sip:x@example.com', want: 'sip:x@example.com' },
    serverHeader: { raw: 'Foo/1.0', want: 'Foo/1.0' },
    api: { want: true },
    apiListen: { raw: '127.0.0.2:9000', want: [{ ip: '127.0.0.2', port: 9000 }], toml: ['127.0.0.2:9000'] },
    apiTokens: { raw: 'tok1', want: ['tok1'], toml: ['tok1'] },
    apiTokenFile: { raw: tokenFile, want: tokenFile },
    apiAllowAnonymous: { want: true },
    apiRateLimit: { raw: '7', want: 7, toml: 7 },
    webhookUrl: { raw: 'https://example.com/hook', want: 'https://example.com/hook' },
    webhookSecret: { raw: 's3', want: 's3' },
    oauth2ClientId: { raw: 'id1', want: 'id1', with: ['-c', 'sec'] },
    oauth2ClientSecret: { raw: 'sec1', want: 'sec1', with: ['-i', 'id'] },
    oauth2TokenUrl: { raw: 'http://127.0.0.1:1/token', want: 'http://127.0.0.1:1/token' },
    oauth2Audience: { raw: 'aud', want: 'aud' },
    syslog: { want: true },
    syslogTarget: { raw: 'udp://127.0.0.1:514', want: 'udp://127.0.0.1:514' },
    syslogIdent: { raw: 'sentrypeer', want: 'sentrypeer' },
    peerToPeer: { want: true },
    bootstrap: { raw: '/ip4/127.0.0.1/tcp/4222', want: ['/ip4/127.0.0.1/tcp/4222'], toml: ['/ip4/127.0.0.1/tcp/4222'] },
    p2pListen: { raw: '127.0.0.1:0', want: [{ ip: '127.0.0.1', port: 0 }], toml: ['127.0.0.1:0'] },
    p2pShare: { raw: 'full', want: 'full' },
    p2pVerifiedOnly: { want: true },
    p2pNetworkKey: { raw: netKey, want: netKey },
    p2pAllowPeers: {
      raw: '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN',
      want: ['12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'],
      toml: ['12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'],
    },
    p2pEngine: { raw: 'both', want: 'both' },
    opendhtPort: { raw: '14222', want: 14222, toml: 14222 },
    opendhtBootstrap: { raw: 'dht.example.net:4333', want: ['dht.example.net:4333'], toml: ['dht.example.net:4333'] },
    opendhtBootstrapPort: { raw: '4333', want: 4333, toml: 4333 },
    opendhtPeerDiscovery: { raw: 'off', want: false },
    opendhtRate: { raw: '50', want: 50, toml: 50 },
    trustOpendht: { want: true },
    allow: { raw: '10.1.2.3/8', want: ['10.0.0.0/8'], toml: ['10.1.2.3/8'] },
    retentionDays: { raw: '30', want: 30, toml: 30 },
    geoipDb: { raw: 'geo.mmdb', want: w('geo.mmdb') },
    asnDb: { raw: 'asn.mmdb', want: w('asn.mmdb') },
    maxMessageBytes: { raw: '4096', want: 4096, toml: 4096 },
    tcpIdleTimeout: { raw: '5', want: 5, toml: 5 },
    tcpMaxConnectionsPerSource: { raw: '3', want: 3, toml: 3 },
    tcpMaxConnections: { raw: '10', want: 10, toml: 10 },
    replyRateLimit: { raw: '9', want: 9, toml: 9 },
    storeBacklog: { raw: '5000', want: 5000, toml: 5000 },
    tlsHandshakeTimeout: { raw: '7', want: 7, toml: 7 },
    tcpMaxUnsentBytes: { raw: '8192', want: 8192, toml: 8192 },
    blockTtl: { raw: '3h', want: 10_800, toml: '3h' },
    blockMinHits: { raw: '2', want: 2, toml: 2 },
    blockVerifiedOnly: { raw: 'false', want: false, toml: false },
    blockPeers: { raw: 'off', want: false, toml: false },
    blockMax: { raw: '100', want: 100, toml: 100 },
    checkNumberMinSources: { raw: '5', want: 5, toml: 5 },
    bgpNextHop4: { raw: '203.0.113.9', want: '203.0.113.9' },
    bgpNextHop6: { raw: '2001:db8::9', want: '2001:db8::9' },
    bgpCommunity: { raw: '64512:100', want: ['64512:100'], toml: ['64512:100'] },
    bgpLargeCommunity: { raw: '64512:1:2', want: ['64512:1:2'], toml: ['64512:1:2'] },
    bgpNoExport: { raw: 'false', want: false, toml: false },
    bgpAggregateMin: { raw: '8', want: 8, toml: 8 },
    bgpMaxRoutes: { raw: '500', want: 500, toml: 500 },
    bgpAllowPrefix: { raw: '198.51.100.0/24', want: ['198.51.100.0/24'], toml: ['198.51.100.0/24'] },
    bgpMetricsListen: { raw: '127.0.0.1:9100', want: { ip: '127.0.0.1', port: 9100 } },
    bgpFeedSocket: { raw: '/run/sipwarden/bgp.sock', want: '/run/sipwarden/bgp.sock' },
    firewall: { raw: 'nftables', want: 'nftables', toml: 'nftables' },
    firewallTable: { raw: 'sw-test_1', want: 'sw-test_1', toml: 'sw-test_1' },
    firewallPriority: { raw: 'filter  -  10', want: 'filter - 10', toml: 'filter - 10' },
    firewallScope: { raw: 'all', want: 'all', toml: 'all' },
    firewallCleanup: { want: true },
  };
}
const tomlLiteral = (v: unknown): string => JSON.stringify(v);

describe('defaults', () => {
  test('no arguments: the command-line contract defaults, data dir = cwd', () => {
    const o = load([]);
    assert.equal(o.kind, 'run');
    const c = cfg([]);
    assert.equal(c.dataDir, cwd);
    assert.equal(c.dbFile, join(cwd, 'sipwarden.db'));
    assert.equal(c.jsonLogFile, join(cwd, 'sipwarden_json.log'));
    assert.deepEqual(c.sipListen, [
      { ip: '0.0.0.0', port: 5060 },
      { ip: '::', port: 5060 },
    ]);
    assert.deepEqual(c.tlsListen, [
      { ip: '0.0.0.0', port: 5061 },
      { ip: '::', port: 5061 },
    ]);
    assert.deepEqual(c.apiListen, [{ ip: '127.0.0.1', port: 8082 }]);
    assert.deepEqual(c.p2pListen, [
      { ip: '0.0.0.0', port: 4222 },
      { ip: '::', port: 4222 },
    ]);
    assert.equal(c.apiRateLimit, 20);
    assert.equal(c.responsiveProfile, 'freepbx');
    assert.equal(c.decoyExtensions, '100-199');
    assert.equal(c.syslogTarget, '/dev/log');
    assert.equal(c.syslogIdent, 'sipwarden');
    assert.equal(c.retentionDays, 0);
    assert.equal(c.oauth2TokenUrl, 'https://authz.sentrypeer.com/oauth/token');
    assert.equal(c.oauth2Audience, 'https://sentrypeer.com/api');
    assert.equal(c.p2pShare, 'no-credentials');
    assert.equal(c.tls, true);
    assert.equal(c.maxMessageBytes, 65_535);
    assert.equal(c.tcpIdleTimeout, 120);
    assert.equal(c.tcpMaxConnectionsPerSource, 256);
    assert.equal(c.tcpMaxConnections, 4096);
    assert.equal(c.replyRateLimit, 50);
    for (const k of ['verbose', 'debug', 'jsonLog', 'peerToPeer', 'api', 'responsive', 'sipDisable', 'syslog'] as const) {
      assert.equal(c[k], false, k);
    }
    for (const k of ['cert', 'key', 'webhookUrl', 'oauth2ClientId', 'oauth2ClientSecret', 'geoipDb', 'asnDb'] as const) {
      assert.equal(c[k], null, k);
    }
    assert.deepEqual(c.sources, {});
    assert.deepEqual(warnings([]), []);
  });

  test('config is deep-frozen', () => {
    const c = cfg(['--sip-listen', '127.0.0.1:1']);
    assert.ok(Object.isFrozen(c));
    assert.ok(Object.isFrozen(c.sipListen));
    assert.ok(Object.isFrozen(c.sipListen[0]));
    assert.ok(Object.isFrozen(c.sources));
    assert.throws(() => {
      (c as { api: boolean }).api = true;
    }, TypeError);
  });

  test('every setting has a sample in this test', () => {
    const s = samples();
    for (const d of SETTINGS) if (d.key !== 'tls') assert.ok(d.key in s, `no sample for ${d.key}`);
  });
});

describe('every setting through every layer', () => {
  for (const def of SETTINGS) {
    if (def.key === 'tls') continue;
    const sample = (): Sample => samples()[def.key as Exclude<SettingKey, 'tls'>];
    const check = (c: Config, source: string): void => {
      assert.deepEqual(c[def.key], sample().want);
      assert.equal(c.sources[def.key], source);
    };
    const flags = [`--${def.long}`, ...(def.short ? [`-${def.short}`] : [])];
    for (const flag of flags) {
      test(`cli ${flag}`, () => {
        const s = sample();
        const argv = def.kind === 'bool' ? [flag] : [flag, s.raw!];
        check(cfg([...argv, ...(s.with ?? [])]), 'cli');
      });
    }
    if (def.kind !== 'bool') {
      test(`cli --${def.long}=V`, () => {
        const s = sample();
        check(cfg([`--${def.long}=${s.raw!}`, ...(s.with ?? [])]), 'cli');
      });
    }
    for (const name of def.env) {
      test(`env ${name}`, () => {
        const s = sample();
        check(cfg(s.with ?? [], { [name]: def.kind === 'bool' ? '1' : s.raw! }), 'env');
      });
    }
    for (const key of def.toml) {
      test(`toml ${key}`, () => {
        const s = sample();
        let v: unknown = def.kind === 'bool' ? true : (s.toml ?? s.raw);
        if (key === 'tls_listen_address') v = s.raw; // SP's key is one string
        const f = toml(`k-${key}.toml`, `# sample\n${key} = ${tomlLiteral(v)}\n`);
        check(cfg(['-g', f, ...(s.with ?? [])]), 'file');
      });
    }
  }
});

describe('getopt rules', () => {
  test('-jar bundles json_log, api, responsive', () => {
    const c = cfg(['-jar']);
    assert.equal(c.jsonLog, true);
    assert.equal(c.api, true);
    assert.equal(c.responsive, true);
    assert.deepEqual(c.sources, { jsonLog: 'cli', api: 'cli', responsive: 'cli' });
  });
  test('-ras bundles responsive, api, syslog', () => {
    const c = cfg(['-ras']);
    assert.deepEqual([c.responsive, c.api, c.syslog], [true, true, true]);
  });
  test('attached and separate values', () => {
    assert.equal(cfg(['-fx.db']).dbFile, w('x.db'));
    assert.equal(cfg(['-f', 'x.db']).dbFile, w('x.db'));
    const c = cfg(['-rjfx.db']);
    assert.deepEqual([c.responsive, c.jsonLog, c.dbFile], [true, true, w('x.db')]);
    assert.equal(cfg(['-rf', 'y.db']).dbFile, w('y.db'));
    assert.equal(cfg(['--db-file=z.db']).dbFile, w('z.db'));
    assert.equal(cfg(['--db_file', 'z.db']).dbFile, w('z.db'));
  });
  test('a value may start with a dash', () => {
    assert.equal(cfg(['-f', '-x.db']).dbFile, w('-x.db'));
    assert.equal(cfg(['--server-header', '-weird-']).serverHeader, '-weird-');
  });
  test('repeatable flags accumulate and replace defaults; others keep the last value', () => {
    const c = cfg(['--sip-listen', '127.0.0.1:1', '--sip-listen=[::1]:2', '-z', '127.0.0.1:3', '-z127.0.0.1:4', '-f', 'a.db', '-f', 'b.db']);
    assert.deepEqual(c.sipListen, [
      { ip: '127.0.0.1', port: 1 },
      { ip: '::1', port: 2 },
    ]);
    assert.deepEqual(c.tlsListen, [
      { ip: '127.0.0.1', port: 3 },
      { ip: '127.0.0.1', port: 4 },
    ]);
    assert.equal(c.dbFile, w('b.db'));
    assert.deepEqual(cfg(['--allow', '10.0.0.0/8', '--allow', '::1']).allow, ['10.0.0.0/8', '::1/128']);
    assert.deepEqual(cfg(['--api-token', 'a', '--api-token', 'b']).apiTokens, ['a', 'b']);
    assert.deepEqual(cfg(['-b', 'h1', '-b', 'h2:4000', '-p']).bootstrap, ['h1', 'h2:4000']);
  });
  test('-- ends options', () => {
    assert.equal(errLine(['--', '-a']), 'sipwarden: error: "-a": unexpected argument');
  });
  test('config check subcommand, options before or after', () => {
    assert.equal(load(['config', 'check']).kind, 'check');
    assert.equal(load(['-a', 'config', 'check', '-r']).kind, 'check');
    const o = load(['config', 'check', '-jar']);
    assert.equal(o.kind, 'check');
    assert.equal(errLine(['config']), 'sipwarden: error: config: expected "config check"');
    assert.equal(errLine(['config', 'list']), 'sipwarden: error: "list": unexpected argument');
    assert.equal(errLine(['config', 'check', 'x']), 'sipwarden: error: "x": unexpected argument');
    assert.equal(errLine(['run']), 'sipwarden: error: "run": unexpected argument');
  });
  test('-h and -V', () => {
    const h = load(['-h']);
    assert.equal(h.kind, 'help');
    const v = load(['-V']);
    assert.deepEqual(v, { kind: 'version', text: `sipwarden ${VERSION}\n` });
    assert.equal(load(['--version']).kind, 'version');
    assert.equal(load(['--help']).kind, 'help');
    assert.equal(load(['-ah']).kind, 'help');
    // -h wins even over a later bad value (getopt stops there).
    assert.equal(load(['-h', '--bogus']).kind, 'help');
  });
  test('help lists every flag', () => {
    const h = load(['-h']);
    assert.ok(h.kind === 'help');
    for (const def of SETTINGS) {
      if (def.key === 'tls') continue;
      assert.ok(h.text.includes(`--${def.long}`), `help lacks --${def.long}`);
      if (def.short) assert.ok(h.text.includes(`-${def.short}, --${def.long}`), `help lacks -${def.short}`);
    }
    for (const f of ['-h, --help', '-V, --version', '-g, --config', '--no-tls', '-N', 'config check']) {
      assert.ok(h.text.includes(f), f);
    }
    assert.ok(h.text.endsWith('\n'));
  });
  test('-N warns exactly', () => {
    assert.deepEqual(warnings(['-N']), ['-N is ignored']);
    assert.deepEqual(warnings(['-aN']), ['-N is ignored']);
  });
  test('-b without -p warns; with -p it does not', () => {
    assert.deepEqual(warnings(['-b', 'h']), ['-b has no effect without -p']);
    assert.deepEqual(warnings(['-b', 'h', '-p']), []);
    assert.deepEqual(warnings([], { SENTRYPEER_BOOTSTRAP_NODE: 'h' }), ['SENTRYPEER_BOOTSTRAP_NODE has no effect without -p']);
  });
  test('-r with -R warns; --geoip-db no longer does, and keeps `none` as given', () => {
    assert.deepEqual(warnings(['-rR']), ['-r has no effect with -R']);
    assert.deepEqual(warnings(['--geoip-db', 'g']), []);
    assert.equal(cfg(['--geoip-db', 'none']).geoipDb, 'none');
  });
  test('--no-tls', () => {
    const c = cfg(['--no-tls']);
    assert.equal(c.tls, false);
    assert.equal(c.sources.tls, 'cli');
  });
});

describe('environment', () => {
  test('exactly the SENTRYPEER_* aliases.1', () => {
    const sp = SETTINGS.flatMap((d) => d.env.filter((n) => n.startsWith('SENTRYPEER_')));
    assert.deepEqual(
      sp.sort(),
      [
        'DB_FILE', 'JSON_LOG', 'JSON_LOG_FILE', 'PEER_TO_PEER', 'BOOTSTRAP_NODE', 'API', 'WEBHOOK_URL', 'OAUTH2_CLIENT_ID',
        'OAUTH2_CLIENT_SECRET', 'SIP_RESPONSIVE', 'SIP_DISABLE', 'SYSLOG', 'VERBOSE', 'DEBUG', 'CERT', 'KEY',
        'TLS_LISTEN_ADDRESS',
      ]
        .map((x) => `SENTRYPEER_${x}`)
        .sort(),
    );
    // The 18th (CONFIG_FILE) and SENTRYPEER_TLS_DISABLE are handled specially; tested below.
  });

  const spAliases: [string, string, keyof Config, unknown][] = [
    ['SENTRYPEER_DB_FILE', 'sp.db', 'dbFile', 'SP_DB'],
    ['SENTRYPEER_JSON_LOG', '', 'jsonLog', true],
    ['SENTRYPEER_JSON_LOG_FILE', 'sp.log', 'jsonLogFile', 'SP_LOG'],
    ['SENTRYPEER_PEER_TO_PEER', 'yes', 'peerToPeer', true],
    ['SENTRYPEER_BOOTSTRAP_NODE', 'bootstrap.example.org', 'bootstrap', ['bootstrap.example.org']],
    ['SENTRYPEER_API', '1', 'api', true],
    ['SENTRYPEER_WEBHOOK_URL', 'http://127.0.0.1:9/x', 'webhookUrl', 'http://127.0.0.1:9/x'],
    ['SENTRYPEER_SIP_RESPONSIVE', 'true', 'responsive', true],
    ['SENTRYPEER_SIP_DISABLE', 'on', 'sipDisable', true],
    ['SENTRYPEER_SYSLOG', 'x', 'syslog', true],
    ['SENTRYPEER_VERBOSE', '1', 'verbose', true],
    ['SENTRYPEER_DEBUG', '1', 'debug', true],
    ['SENTRYPEER_TLS_LISTEN_ADDRESS', '127.0.0.1:5099', 'tlsListen', [{ ip: '127.0.0.1', port: 5099 }]],
  ];
  for (const [name, value, key, want] of spAliases) {
    test(`${name}=${JSON.stringify(value)}`, () => {
      const c = cfg([], { [name]: value });
      const expect = want === 'SP_DB' ? w('sp.db') : want === 'SP_LOG' ? w('sp.log') : want;
      assert.deepEqual(c[key], expect);
      assert.equal(c.sources[key], 'env');
    });
  }
  test('SENTRYPEER_OAUTH2_CLIENT_ID + SENTRYPEER_OAUTH2_CLIENT_SECRET', () => {
    const c = cfg([], { SENTRYPEER_OAUTH2_CLIENT_ID: 'cid', SENTRYPEER_OAUTH2_CLIENT_SECRET: 'csec' });
    assert.equal(c.oauth2ClientId, 'cid');
    assert.equal(c.oauth2ClientSecret, 'csec');
  });
  test('SENTRYPEER_CERT + SENTRYPEER_KEY', () => {
    const c = cfg([], { SENTRYPEER_CERT: certFile, SENTRYPEER_KEY: keyFile });
    assert.equal(c.cert, certFile);
    assert.equal(c.key, keyFile);
    assert.equal(c.sources.cert, 'env');
  });
  test('SENTRYPEER_CONFIG_FILE, SIPWARDEN_CONFIG_FILE, SIPWARDEN_CONFIG', () => {
    const f = toml('envcfg.toml', 'api = true\n');
    for (const name of ['SENTRYPEER_CONFIG_FILE', 'SIPWARDEN_CONFIG_FILE', 'SIPWARDEN_CONFIG']) {
      const c = cfg([], { [name]: f });
      assert.equal(c.api, true, name);
      assert.equal(c.sources.api, 'file');
      assert.equal(c.configFile, f);
      assert.equal(c.sources.configFile, 'env');
    }
  });
  test('SENTRYPEER_TLS_DISABLE means --no-tls; SIPWARDEN_TLS wins', () => {
    assert.equal(cfg([], { SENTRYPEER_TLS_DISABLE: '1' }).tls, false);
    assert.equal(cfg([], { SENTRYPEER_TLS_DISABLE: '' }).tls, false);
    assert.equal(cfg([], { SENTRYPEER_TLS_DISABLE: '0' }).tls, true);
    assert.equal(cfg([], { SIPWARDEN_TLS: '0' }).tls, false);
    assert.equal(cfg([], { SIPWARDEN_TLS: 'true' }).tls, true);
    assert.equal(cfg([], { SIPWARDEN_TLS: '1', SENTRYPEER_TLS_DISABLE: '1' }).tls, true);
    assert.equal(cfg([], { SENTRYPEER_TLS_DISABLE: 'yes' }).sources.tls, 'env');
  });
  test('SENTRYPEER_API=0 is off (deviation from SP)', () => {
    const c = cfg([], { SENTRYPEER_API: '0' });
    assert.equal(c.api, false);
    assert.equal(c.sources.api, 'env');
  });
  test('boolean semantics', () => {
    for (const v of ['', '1', 'yes', 'true', 'on', 'anything', ' 2 ']) assert.equal(envBool(v), true, JSON.stringify(v));
    for (const v of ['0', 'false', 'no', 'off', 'FALSE', ' Off ', 'No', '\t0\n']) assert.equal(envBool(v), false, JSON.stringify(v));
    assert.equal(cfg([], { SENTRYPEER_SIP_RESPONSIVE: 'OFF' }).responsive, false);
    assert.equal(cfg([], { SIPWARDEN_API: '' }).api, true);
  });
  test('SIPWARDEN_ wins over SENTRYPEER_', () => {
    assert.equal(cfg([], { SIPWARDEN_API: '0', SENTRYPEER_API: '1' }).api, false);
    assert.equal(cfg([], { SIPWARDEN_DB_FILE: 'a.db', SENTRYPEER_DB_FILE: 'b.db' }).dbFile, w('a.db'));
    assert.equal(cfg([], { SIPWARDEN_RESPONSIVE: '0', SENTRYPEER_SIP_RESPONSIVE: '1' }).responsive, false);
    assert.equal(cfg([], { SIPWARDEN_SIP_RESPONSIVE: '1' }).responsive, true);
    assert.deepEqual(
      cfg([], { SIPWARDEN_TLS_LISTEN: '127.0.0.1:1', SENTRYPEER_TLS_LISTEN_ADDRESS: '127.0.0.1:2' }).tlsListen,
      [{ ip: '127.0.0.1', port: 1 }],
    );
  });
  test('an empty non-boolean is unset (falls through to the alias / default)', () => {
    assert.equal(cfg([], { SIPWARDEN_DB_FILE: '', SENTRYPEER_DB_FILE: 'b.db' }).dbFile, w('b.db'));
    const c = cfg([], { SIPWARDEN_SIP_LISTEN: '', SIPWARDEN_API_RATE_LIMIT: '' });
    assert.equal(c.sipListen.length, 2);
    assert.equal(c.apiRateLimit, 20);
    assert.deepEqual(c.sources, {});
  });
  test('lists are comma-separated', () => {
    const c = cfg([], {
      SIPWARDEN_SIP_LISTEN: '127.0.0.1:1, [::1]:2',
      SIPWARDEN_ALLOW: '10.0.0.0/8,192.168.1.1',
      SIPWARDEN_API_TOKEN: 'a,b',
    });
    assert.deepEqual(c.sipListen, [
      { ip: '127.0.0.1', port: 1 },
      { ip: '::1', port: 2 },
    ]);
    assert.deepEqual(c.allow, ['10.0.0.0/8', '192.168.1.1/32']);
    assert.deepEqual(c.apiTokens, ['a', 'b']);
  });
  test('unknown SIPWARDEN_* variables are ignored', () => {
    assert.doesNotThrow(() => cfg([], { SIPWARDEN_TEST_ROOT: '/x', SENTRYPEER_WHATEVER: 'y' }));
  });
  test('a bad value names the variable', () => {
    assert.equal(
      errLine([], { SENTRYPEER_TLS_LISTEN_ADDRESS: 'nope' }),
      'sipwarden: error: SENTRYPEER_TLS_LISTEN_ADDRESS: invalid address "nope" (expected IP:PORT, IPv6 as [IP]:PORT)',
    );
    assert.equal(
      errLine([], { SIPWARDEN_API_RATE_LIMIT: 'x' }),
      'sipwarden: error: SIPWARDEN_API_RATE_LIMIT: invalid number "x" (expected an integer from 0 to 1000000)',
    );
    assert.equal(
      errLine([], { SENTRYPEER_WEBHOOK_URL: 'ftp://x' }),
      'sipwarden: error: SENTRYPEER_WEBHOOK_URL: URL "ftp://x" must be http or https',
    );
  });
});

describe('TOML file', () => {
  test("SentryPeer's keys cert, key, tls_listen_address", () => {
    const f = toml('sp.toml', `cert = "${certFile}"\nkey = "${keyFile}"\ntls_listen_address = "127.0.0.1:5061"\n`);
    const c = cfg(['-g', f]);
    assert.equal(c.cert, certFile);
    assert.equal(c.key, keyFile);
    assert.deepEqual(c.tlsListen, [{ ip: '127.0.0.1', port: 5061 }]);
    assert.equal(c.sources.tlsListen, 'file');
    assert.equal(c.configFile, f);
    assert.equal(c.sources.configFile, 'cli');
  });
  test('a full sample file', () => {
    const f = toml(
      'full.toml',
      [
        'verbose = true',
        'responsive = true',
        'json_log = true',
        'sip_listen = ["127.0.0.1:5060", "[::1]:5060"]',
        'api_rate_limit = 0',
        'responsive_profile = "redirect"',
        'redirect_uri = "sip:trap@192.0.2.1"',
        'tls = false',
        '',
      ].join('\n'),
    );
    const c = cfg(['-g', f]);
    assert.equal(c.verbose, true);
    assert.equal(c.apiRateLimit, 0);
    assert.equal(c.responsiveProfile, 'redirect');
    assert.equal(c.tls, false);
    assert.equal(c.sipListen.length, 2);
  });
  test('default path: $XDG_CONFIG_HOME, else ~/.config (homeDir argument)', () => {
    const xdg = join(root, 'xdg');
    mkdirSync(join(xdg, 'sipwarden'), { recursive: true });
    writeFileSync(join(xdg, 'sipwarden', 'config.toml'), 'syslog = true\n');
    const h2 = join(root, 'home2');
    mkdirSync(join(h2, '.config', 'sipwarden'), { recursive: true });
    writeFileSync(join(h2, '.config', 'sipwarden', 'config.toml'), 'debug = true\n');
    const a = cfg([], { XDG_CONFIG_HOME: xdg }, h2);
    assert.equal(a.syslog, true);
    assert.equal(a.debug, false);
    assert.equal(a.configFile, join(xdg, 'sipwarden', 'config.toml'));
    assert.equal(a.sources.configFile, 'default');
    const b = cfg([], {}, h2);
    assert.equal(b.debug, true);
    assert.equal(b.sources.debug, 'file');
    // A missing default file is skipped.
    const c = cfg([], {}, home);
    assert.equal(c.configFile, null);
    assert.equal(c.sources.configFile, undefined);
    // -g overrides the default path.
    const g = toml('g.toml', 'api = true\n');
    const d = cfg(['-g', g], { XDG_CONFIG_HOME: xdg }, h2);
    assert.deepEqual([d.api, d.syslog, d.debug], [true, false, false]);
    // -g beats the environment.
    const e = cfg(['--config', g], { SENTRYPEER_CONFIG_FILE: join(xdg, 'sipwarden', 'config.toml') });
    assert.deepEqual([e.api, e.syslog], [true, false]);
  });
  test('relative -g resolves against cwd', () => {
    writeFileSync(join(cwd, 'rel.toml'), 'api = true\n');
    assert.equal(cfg(['-g', 'rel.toml']).api, true);
    assert.equal(cfg(['-grel.toml']).configFile, join(cwd, 'rel.toml'));
  });
  test('errors name file[:line]', () => {
    const unknown = toml('unknown.toml', '# c\napi = true\n\nfoo = 1\n');
    assert.equal(errLine(['-g', unknown]), `sipwarden: error: ${unknown}:4: unknown key "foo"`);
    const table = toml('table.toml', 'api = true\n[sipwarden]\nx = 1\n');
    assert.equal(errLine(['-g', table]), `sipwarden: error: ${table}:2: unknown key "sipwarden"`);
    const cfgKey = toml('cfgkey.toml', 'config = "x"\n');
    assert.equal(errLine(['-g', cfgKey]), `sipwarden: error: ${cfgKey}:1: unknown key "config"`);
    const wrongBool = toml('wb.toml', '\n\napi = "yes"\n');
    assert.equal(errLine(['-g', wrongBool]), `sipwarden: error: ${wrongBool}:3: api: expected a boolean, got string`);
    const wrongList = toml('wl.toml', 'sip_listen = "127.0.0.1:5060"\n');
    assert.equal(
      errLine(['-g', wrongList]),
      `sipwarden: error: ${wrongList}:1: sip_listen: expected an array of strings, got string`,
    );
    const wrongInt = toml('wi.toml', 'retention_days = "30"\n');
    assert.equal(errLine(['-g', wrongInt]), `sipwarden: error: ${wrongInt}:1: retention_days: expected an integer, got string`);
    const float = toml('wf.toml', 'retention_days = 1.5\n');
    assert.equal(errLine(['-g', float]), `sipwarden: error: ${float}:1: retention_days: expected an integer, got number`);
    const badVal = toml('bv.toml', 'api = true\nsip_listen = ["127.0.0.1:5060", "bad"]\n');
    assert.equal(
      errLine(['-g', badVal]),
      `sipwarden: error: ${badVal}:2: sip_listen: invalid address "bad" (expected IP:PORT, IPv6 as [IP]:PORT)`,
    );
    const syntax = toml('syn.toml', 'api = true\nverbose = = 1\n');
    assert.equal(errLine(['-g', syntax]), `sipwarden: error: ${syntax}:2: invalid TOML: invalid value`);
    const dup = toml('dup.toml', 'tls_listen = ["127.0.0.1:1"]\ntls_listen_address = "127.0.0.1:2"\n');
    assert.equal(errLine(['-g', dup]), `sipwarden: error: ${dup}:2: tls_listen_address: duplicates ${dup}:1`);
    const quoted = toml('quoted.toml', '"bogus" = 1\n');
    assert.equal(errLine(['-g', quoted]), `sipwarden: error: ${quoted}:1: unknown key "bogus"`);
  });
  test('missing explicit file is an error; a directory too', () => {
    assert.equal(errLine(['-g', 'nope.toml']), 'sipwarden: error: nope.toml: file not found');
    assert.equal(errLine([], { SENTRYPEER_CONFIG_FILE: 'nope.toml' }), 'sipwarden: error: nope.toml: file not found');
    assert.equal(errLine(['-g', root]), `sipwarden: error: ${root}: is a directory`);
  });
  test('a bad default file is an error; an unreadable one is skipped with a warning', () => {
    const h3 = join(root, 'home3');
    mkdirSync(join(h3, '.config', 'sipwarden'), { recursive: true });
    const p = join(h3, '.config', 'sipwarden', 'config.toml');
    writeFileSync(p, 'bogus = 1\n');
    assert.equal(errLine([], {}, h3), `sipwarden: error: ${p}:1: unknown key "bogus"`);
    // Regression: an unreadable default path (here a directory, which root cannot read either) was fatal.
    rmSync(p);
    mkdirSync(p);
    const o = load([], {}, h3);
    assert.ok(o.kind === 'run');
    assert.deepEqual(o.warnings, [`skipping default config ${p}: is a directory`]);
    assert.equal(o.config.configFile, null);
  });
});

describe('drop-in defaults for SentryPeer hosts', () => {
  const spHome = (name: string, text: string): string => {
    const h = join(root, name);
    mkdirSync(join(h, '.config', 'sentrypeer'), { recursive: true });
    writeFileSync(join(h, '.config', 'sentrypeer', 'default-config.toml'), text);
    return h;
  };
  test("SentryPeer's default config path is read when sipwarden's is absent (regression: config = null)", () => {
    const h = spHome('sphome1', `tls_listen_address = "127.0.0.1:5071"\ncert = ${JSON.stringify(certFile)}\nkey = ${JSON.stringify(keyFile)}\n`);
    const spFile = join(h, '.config', 'sentrypeer', 'default-config.toml');
    const c = cfg([], {}, h);
    assert.equal(c.configFile, spFile);
    assert.equal(c.configFileOrigin, 'sentrypeer-default');
    assert.deepEqual(c.tlsListen, [{ ip: '127.0.0.1', port: 5071 }]);
    assert.equal(c.cert, certFile);
    const out = formatConfigCheck(c);
    assert.ok(out.includes(`# config = ${JSON.stringify(spFile)} # default\n`), out);
    assert.ok(out.includes('tls_listen = ["127.0.0.1:5071"] # file\n'), out);
    // The same under $XDG_CONFIG_HOME.
    const x = cfg([], { XDG_CONFIG_HOME: join(h, '.config') }, home);
    assert.equal(x.configFile, spFile);
    // sipwarden's own default wins when both exist.
    mkdirSync(join(h, '.config', 'sipwarden'));
    writeFileSync(join(h, '.config', 'sipwarden', 'config.toml'), 'api = true\n');
    const both = cfg([], {}, h);
    assert.equal(both.configFileOrigin, 'sipwarden-default');
    assert.equal(both.tlsListen.length, 2);
  });
  test("SentryPeer's first-run cert.pem/key.pem that do not exist fall back to the self-signed certificate", () => {
    const h = spHome('sphome2', 'cert = "cert.pem"\nkey = "key.pem"\ntls_listen_address = "0.0.0.0:5061"\n');
    const o = load([], {}, h);
    assert.ok(o.kind === 'run');
    assert.equal(o.config.cert, null);
    assert.equal(o.config.key, null);
    assert.equal(o.warnings.length, 1);
    assert.match(o.warnings[0]!, /cert\.pem not found; using the data directory's TLS certificate$/);
  });
  test('./sentrypeer.db is kept when sipwarden.db is absent and neither -f nor --data-dir is given', () => {
    const dir = join(root, 'spcwd');
    mkdirSync(dir);
    const at = (argv: string[]): Config => {
      const o = loadConfig(argv, {}, dir, home);
      assert.ok(o.kind === 'run');
      return o.config;
    };
    assert.equal(at([]).dbFile, join(dir, 'sipwarden.db'));
    writeFileSync(join(dir, 'sentrypeer.db'), '');
    const c = at([]);
    assert.equal(c.dbFile, join(dir, 'sentrypeer.db'));
    assert.equal(c.dbFileOrigin, 'sentrypeer-default');
    assert.equal(at(['-f', 'x.db']).dbFile, join(dir, 'x.db'));
    assert.equal(at(['--data-dir', 'dd']).dbFile, join(dir, 'dd', 'sipwarden.db'));
    writeFileSync(join(dir, 'sipwarden.db'), '');
    assert.equal(at([]).dbFile, join(dir, 'sipwarden.db'));
    assert.equal(at([]).dbFileOrigin, 'sipwarden-default');
  });
});

describe('config check round trip', () => {
  const effective = (c: Config): unknown => {
    const { sources: _s, configFile: _f, configFileOrigin: _o, dbFileOrigin: _d, ...rest } = c;
    return rest;
  };
  for (const argv of [
    [],
    ['-jar', '-v', '--sip-listen', '127.0.0.1:5070', '--sip-listen', '[::1]:5070', '--retention-days', '7', '--allow', '10.0.0.0/8'],
    ['--no-tls', '-s', '--syslog-target', 'udp://127.0.0.1:514', '--responsive-profile', 'redirect', '--redirect-uri', 'sip:x@192.0.2.1'],
    ['-p', '-b', '192.0.2.9', '--log-format', 'json', '-t', 'CERTFILE', '-k', 'KEYFILE', '--data-dir', 'dd', '-f', 'other.db'],
  ]) {
    test(`config check output is TOML that -g reads back to the same configuration: ${argv.join(' ') || '(defaults)'}`, () => {
      const args = argv.map((a) => (a === 'CERTFILE' ? certFile : a === 'KEYFILE' ? keyFile : a));
      const first = cfg(args);
      const f = toml(`rt-${args.length}.toml`, formatConfigCheck(first));
      const second = cfg(['-g', f]);
      assert.deepEqual(effective(second), effective(first));
      // Nothing is lost: no line of the first output is an unset value the second run gives.
    });
  }
});

describe('precedence', () => {
  test('defaults < file < env < cli, with sources', () => {
    const f = toml('prec.toml', 'db_file = "file.db"\nsyslog_ident = "fromfile"\nretention_days = 1\nsip_listen = ["127.0.0.1:1", "127.0.0.1:2"]\n');
    const env = { SIPWARDEN_DB_FILE: 'env.db', SIPWARDEN_RETENTION_DAYS: '2', SIPWARDEN_SIP_LISTEN: '127.0.0.1:3' };
    const c = cfg(['-g', f, '--retention-days', '3'], env);
    assert.equal(c.syslogIdent, 'fromfile');
    assert.equal(c.sources.syslogIdent, 'file');
    assert.equal(c.dbFile, w('env.db'));
    assert.equal(c.sources.dbFile, 'env');
    assert.equal(c.retentionDays, 3);
    assert.equal(c.sources.retentionDays, 'cli');
    // A higher layer's list replaces a lower one.
    assert.deepEqual(c.sipListen, [{ ip: '127.0.0.1', port: 3 }]);
    const d = cfg(['-g', f, '--sip-listen', '127.0.0.1:4'], env);
    assert.deepEqual(d.sipListen, [{ ip: '127.0.0.1', port: 4 }]);
    assert.equal(d.sources.sipListen, 'cli');
    assert.equal(c.oauth2Audience, 'https://sentrypeer.com/api');
    assert.equal(c.sources.oauth2Audience, undefined);
  });
  test('a CLI switch overrides an env "off"; env overrides file', () => {
    const f = toml('prec2.toml', 'api = true\n');
    assert.equal(cfg(['-g', f], { SENTRYPEER_API: 'off' }).api, false);
    assert.equal(cfg(['-g', f, '-a'], { SENTRYPEER_API: 'off' }).api, true);
    assert.equal(cfg(['--no-tls'], { SIPWARDEN_TLS: '1' }).tls, false);
  });
});

describe('derived values', () => {
  test('data dir: --data-dir, else dirname of -f, else cwd', () => {
    const a = cfg(['--data-dir', 'd', '-f', 'sub/x.db']);
    assert.equal(a.dataDir, w('d'));
    assert.equal(a.dbFile, w('sub/x.db'));
    assert.equal(a.jsonLogFile, w('d/sipwarden_json.log'));
    const b = cfg(['-f', 'sub/x.db']);
    assert.equal(b.dataDir, w('sub'));
    assert.equal(b.sources.dataDir, 'cli');
    assert.equal(b.jsonLogFile, w('sub/sipwarden_json.log'));
    const c = cfg(['--data-dir', '/var/lib/sw']);
    assert.equal(c.dbFile, '/var/lib/sw/sipwarden.db');
    assert.equal(c.sources.dbFile, undefined);
    const d = cfg([], { SENTRYPEER_DB_FILE: '/srv/sp/sentrypeer.db' });
    assert.equal(d.dataDir, '/srv/sp');
    assert.equal(d.sources.dataDir, 'env');
  });
  test('-l implies -j', () => {
    const a = cfg(['-l', 'x.log']);
    assert.equal(a.jsonLog, true);
    assert.equal(a.jsonLogFile, w('x.log'));
    assert.equal(a.sources.jsonLog, 'cli');
    assert.equal(cfg([], { SENTRYPEER_JSON_LOG_FILE: 'y.log' }).jsonLog, true);
    // An explicit off at the same or a higher layer wins; a lower one does not.
    assert.equal(cfg([], { SENTRYPEER_JSON_LOG_FILE: 'y.log', SENTRYPEER_JSON_LOG: '0' }).jsonLog, false);
    assert.equal(cfg(['-l', 'x.log'], { SENTRYPEER_JSON_LOG: '0' }).jsonLog, true);
  });
  test('relative paths resolve against cwd, for every layer', () => {
    const f = toml('paths.toml', 'geoip_db = "g.mmdb"\n');
    assert.equal(cfg(['-g', f]).geoipDb, w('g.mmdb'));
    assert.equal(cfg([], { SIPWARDEN_GEOIP_DB: 'e.mmdb' }).geoipDb, w('e.mmdb'));
  });
  test('IPv6 and v4-mapped endpoints are normalised', () => {
    assert.deepEqual(cfg(['--api-listen', '[0:0::1]:80']).apiListen, [{ ip: '::1', port: 80 }]);
    assert.deepEqual(cfg(['--sip-listen', '[::ffff:127.0.0.1]:5060']).sipListen, [{ ip: '127.0.0.1', port: 5060 }]);
  });
});

describe('errors: one line naming the flag', () => {
  const cases: [string[], NodeJS.ProcessEnv, string][] = [
    [['--bogus'], {}, '--bogus: unknown option'],
    [['--bogus=1'], {}, '--bogus: unknown option'],
    [['-x'], {}, '-x: unknown option'],
    [['-jax'], {}, '-x: unknown option'],
    [['-f'], {}, '-f: requires a value'],
    [['--db-file'], {}, '--db-file: requires a value'],
    [['--api=1'], {}, '--api: takes no value'],
    [['-f', ''], {}, '-f: must not be empty'],
    [['-g', ''], {}, '-g: must not be empty'],
    [['--responsive-profile', 'nope'], {}, '--responsive-profile: unknown value "nope" (expected one of: freepbx, asterisk, freeswitch, sentrypeer-classic, reject-404, redirect)'],
    [['--responsive-profile', 'redirect'], {}, '--responsive-profile: profile "redirect" requires --redirect-uri'],
    [['--redirect-uri', 'http://x'], {}, '--redirect-uri: invalid URI "http://x" (expected sip:, sips: or tel:)'],
    [['--no-tls', '-t', 'c.pem', '-k', 'k.pem'], {}, '--no-tls: conflicts with -t'],
    [['--no-tls', '-z', '127.0.0.1:5061'], {}, '--no-tls: conflicts with -z'],
    [['--no-tls', '--tls-listen', '127.0.0.1:5061'], {}, '--no-tls: conflicts with --tls-listen'],
    [['-z', '127.0.0.1:5061'], { SENTRYPEER_TLS_DISABLE: '1' }, 'SENTRYPEER_TLS_DISABLE: conflicts with -z'],
    [['-i', 'id'], {}, '-i: requires -c (--oauth2-client-secret)'],
    [['-c', 'sec'], {}, '-c: requires -i (--oauth2-client-id)'],
    [[], { SENTRYPEER_OAUTH2_CLIENT_ID: 'id' }, 'SENTRYPEER_OAUTH2_CLIENT_ID: requires -c (--oauth2-client-secret)'],
    [['-t', 'CERT'], {}, '-t: requires -k (--key)'],
    [['-k', 'KEY'], {}, '-k: requires -t (--cert)'],
    [['--api-listen', '0.0.0.0:8082'], {}, '--api-listen: non-loopback address 0.0.0.0:8082 requires --api-token or --api-allow-anonymous'],
    [['--api-listen', '127.0.0.1:1', '--api-listen', '[::]:8082'], {}, '--api-listen: non-loopback address [::]:8082 requires --api-token or --api-allow-anonymous'],
    [[], { SIPWARDEN_API_LISTEN: '192.0.2.1:8082' }, 'SIPWARDEN_API_LISTEN: non-loopback address 192.0.2.1:8082 requires --api-token or --api-allow-anonymous'],
    [['--sip-listen', '1.2.3.4'], {}, '--sip-listen: invalid address "1.2.3.4" (expected IP:PORT, IPv6 as [IP]:PORT)'],
    [['--sip-listen', '1.2.3.4:70000'], {}, '--sip-listen: invalid address "1.2.3.4:70000" (expected IP:PORT, IPv6 as [IP]:PORT)'],
    [['-z', '::1:5061'], {}, '-z: invalid address "::1:5061" (expected IP:PORT, IPv6 as [IP]:PORT)'],
    [['--allow', '10.0.0.0/33'], {}, '--allow: invalid CIDR "10.0.0.0/33" (expected IP or IP/LEN)'],
    [['-w', 'ftp://x.example'], {}, '-w: URL "ftp://x.example" must be http or https'],
    [['-w', 'not a url'], {}, '-w: invalid URL "not a url"'],
    [['--oauth2-token-url', 'file:///etc/passwd'], {}, '--oauth2-token-url: URL "file:///etc/passwd" must be http or https'],
    [['--p2p-share', 'everything'], {}, '--p2p-share: unknown value "everything" (expected one of: full, no-raw, no-credentials)'],
    [['--api-rate-limit', '-1'], {}, '--api-rate-limit: invalid number "-1" (expected an integer from 0 to 1000000)'],
    [['--retention-days', '1.5'], {}, '--retention-days: invalid number "1.5" (expected an integer from 0 to 36500)'],
    [['--max-message-bytes', '100'], {}, '--max-message-bytes: invalid number "100" (expected an integer from 1024 to 65535)'],
    [['--max-message-bytes', '70000'], {}, '--max-message-bytes: invalid number "70000" (expected an integer from 1024 to 65535)'],
    [['--tcp-idle-timeout', '0'], {}, '--tcp-idle-timeout: invalid number "0" (expected an integer from 1 to 86400)'],
    [['--tcp-max-connections-per-source', '0'], {}, '--tcp-max-connections-per-source: invalid number "0" (expected an integer from 1 to 1000000)'],
    [['--tcp-max-connections', 'many'], {}, '--tcp-max-connections: invalid number "many" (expected an integer from 1 to 1000000)'],
    [['--reply-rate-limit', '0'], {}, '--reply-rate-limit: invalid number "0" (expected an integer from 1 to 1000000)'],
    [['--decoy-extensions', '199-100'], {}, '--decoy-extensions: invalid range "199-100" (start after end)'],
    [['--decoy-extensions', '100,,200'], {}, '--decoy-extensions: invalid list "100,,200" (empty item)'],
    [['--decoy-extensions', 'a b'], {}, '--decoy-extensions: invalid item "a b" (expected N-M or a user name)'],
    [['--syslog-target', 'tcp://h:1'], {}, '--syslog-target: invalid syslog target "tcp://h:1" (expected /path, unix:/path or udp://host:port)'],
    [['--syslog-ident', 'a b'], {}, '--syslog-ident: invalid ident "a b" (letters, digits, . _ -)'],
    [['-b', 'h:0'], {}, '-b: invalid bootstrap node "h:0" (expected a multiaddr or host[:port])'],
    [['--p2p-allow-peer', 'nope'], {}, '--p2p-allow-peer: invalid PeerId "nope" (base58)'],
    [['--api-token', 'a b'], {}, '--api-token: must be non-empty without spaces or control characters'],
    [['--server-header', 'x\r\nInjected: 1'], {}, '--server-header: must not contain control characters'],
    [['--p2p-network-key', 'missing.key'], {}, '--p2p-network-key: file not found: MISSING_KEY'],
  ];
  for (const [argv, env, want] of cases) {
    test(`${JSON.stringify(argv)} ${JSON.stringify(env)}`, () => {
      assert.equal(errLine(argv, env), `sipwarden: error: ${want.replace('MISSING_KEY', w('missing.key'))}`);
    });
  }
  test('missing -t/-k files', () => {
    assert.equal(errLine(['-t', 'nocert.pem', '-k', keyFile]), `sipwarden: error: -t: file not found: ${w('nocert.pem')}`);
    assert.equal(errLine(['-t', certFile, '-k', 'nokey.pem']), `sipwarden: error: -k: file not found: ${w('nokey.pem')}`);
    assert.equal(errLine(['-t', root, '-k', keyFile]), `sipwarden: error: -t: not a regular file: ${root}`);
  });
  test('API: loopback, token or anonymous make a public bind acceptable', () => {
    assert.doesNotThrow(() => cfg(['--api-listen', '127.0.0.5:1', '--api-listen', '[::1]:2']));
    assert.equal(cfg(['--api-listen', '0.0.0.0:8082', '--api-token', 't']).apiTokens[0], 't');
    assert.equal(cfg(['--api-listen', '0.0.0.0:8082', '--api-allow-anonymous']).apiAllowAnonymous, true);
  });
  test('secrets are not echoed in errors', () => {
    const line = errLine(['--decoy-password', 'sec\nret']);
    assert.ok(!line.includes('sec'), line);
  });
  test('attacker-ish flag names stay on one line', () => {
    const line = errLine(['--x\ny']);
    assert.equal(line, 'sipwarden: error: "--x\\ny": unknown option');
  });
});

describe('config check output', () => {
  test('sorted key = value # source lines, secrets redacted', () => {
    const o = load(
      ['config', 'check', '-jar', '--api-token', 'topsecret', '-i', 'cid', '-c', 'csecret', '--webhook-secret', 'whs', '--decoy-password', 'dp'],
      { SIPWARDEN_SYSLOG_IDENT: 'sentrypeer' },
    );
    assert.ok(o.kind === 'check');
    const out = formatConfigCheck(o.config);
    assert.ok(out.endsWith('\n'));
    const lines = out.trimEnd().split('\n');
    const keys = lines.map((l) => l.replace(/^# /, '').split(' ')[0]!);
    assert.deepEqual([...keys].sort(), keys);
    for (const l of lines) assert.match(l, /^(# )?[a-z0-9_]+ = .+ # (default|file|env|cli)( \(TLS is off\))?$/);
    for (const s of ['topsecret', 'csecret', 'whs', 'dp"']) assert.ok(!out.includes(s), `leaked ${s}`);
    assert.ok(lines.includes('json_log = true # cli'));
    assert.ok(lines.includes('api = true # cli'));
    assert.ok(lines.includes('responsive = true # cli'));
    assert.ok(lines.includes('syslog = false # default'));
    assert.ok(lines.includes('# api_token = "<redacted>" # cli'));
    assert.ok(lines.includes('# oauth2_client_secret = "<redacted>" # cli'));
    assert.ok(lines.includes('oauth2_client_id = "cid" # cli'));
    assert.ok(lines.includes('# webhook_secret = "<redacted>" # cli'));
    assert.ok(lines.includes('# decoy_password = "<redacted>" # cli'));
    assert.ok(lines.includes('syslog_ident = "sentrypeer" # env'));
    assert.ok(lines.includes('sip_listen = ["0.0.0.0:5060", "[::]:5060"] # default'));
    assert.ok(lines.includes(`data_dir = ${JSON.stringify(cwd)} # default`));
    assert.ok(lines.includes('# cert = (unset) # default'));
    // One line per setting plus `config`.
    assert.equal(lines.length, SETTINGS.length + 1);
  });
  test('unset values are commented out; an empty list is a value', () => {
    const out = formatConfigCheck(cfg([]));
    assert.ok(out.includes('api_token = [] # default\n'));
    assert.ok(out.includes('# webhook_secret = (unset) # default\n'));
    assert.ok(out.includes('# config = (none) # default\n'));
  });
});

describe('docs/CONFIG.md', () => {
  test('documents every flag, variable and TOML key', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(new URL('../../docs/CONFIG.md', import.meta.url), 'utf8');
    for (const d of SETTINGS) {
      if (d.key !== 'tls') assert.ok(doc.includes(`--${d.long}`), `--${d.long}`);
      if (d.short) assert.ok(doc.includes(`\`-${d.short}`), `-${d.short}`);
      for (const e of d.env) assert.ok(doc.includes(`\`${e}\``), e);
      for (const k of d.toml) assert.ok(doc.includes(`\`${k}\``), k);
    }
    for (const x of ['--no-tls', 'SENTRYPEER_TLS_DISABLE', 'SENTRYPEER_CONFIG_FILE', '`-N`', 'config check']) assert.ok(doc.includes(x), x);
  });
});

describe('properties', () => {
  test('bundled switches equal separate switches, in any order', async () => {
    const fc = (await import('fast-check')).default;
    const switches = ['v', 'd', 'j', 'p', 'a', 'r', 'R', 's'];
    fc.assert(
      fc.property(fc.subarray(switches, { minLength: 1 }), fc.boolean(), (subset, shuffle) => {
        const order = shuffle ? [...subset].reverse() : subset;
        const bundled = cfg([`-${order.join('')}`]);
        const separate = cfg(order.map((c) => `-${c}`));
        assert.deepEqual(bundled, separate);
      }),
      { numRuns: 200 },
    );
  });
  test('arbitrary argv and environment only ever raise ConfigError', async () => {
    const fc = (await import('fast-check')).default;
    const names = SETTINGS.flatMap((d) => [`--${d.long}`, ...(d.short ? [`-${d.short}`] : [])]);
    const token = fc.oneof(
      fc.constantFrom(...names, '--', 'config', 'check', '-g', '--no-tls', '-N', 'a\nb', '\r\n', '\x00'),
      fc.string({ maxLength: 12 }),
      fc.string({ unit: 'binary', maxLength: 8 }),
    );
    const envArb = fc.dictionary(fc.constantFrom(...SETTINGS.flatMap((d) => d.env)), fc.string({ maxLength: 12 }), { maxKeys: 3 });
    fc.assert(
      fc.property(fc.array(token, { maxLength: 8 }), envArb, (argv, env) => {
        try {
          const o = load(argv, env);
          if (o.kind === 'run' || o.kind === 'check') assert.ok(Object.isFrozen(o.config));
        } catch (e) {
          assert.ok(e instanceof ConfigError, String(e));
          assert.ok(!`${e.where}: ${e.reason}`.includes('\n'), `${e.where}: ${e.reason}`);
        }
      }),
      { numRuns: 1500 },
    );
  });
});

test('a config path with a newline stays on one line', () => {
  assert.equal(errLine(['-g', 'a\nb.toml']), 'sipwarden: error: "a\\nb.toml": file not found');
});
