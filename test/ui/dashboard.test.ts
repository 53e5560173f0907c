// test-runner: exclusive (the live feed is held to 1 s from capture to the rendered row)
/**
 * The dashboard in the system Chromium (playwright-core), against one live daemon for the whole file. The daemon
 * runs in a network namespace of its own; the scanners (sipsak, svmap, svcrack) run in a second one whose veth
 * addresses are in MaxMind's GeoIP test data (81.2.69.160 GB, 89.160.20.112 SE / AS29518), so the map and the
 * country/ASN lists have something to show. Chromium runs in the daemon's namespace (a wrapper script) and reaches
 * the API on its loopback. Screenshots of every view go to a temporary directory (printed, never committed).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { cleanup, startDaemon, tempDir, type Daemon } from '../helpers/daemon.js';
import { runTool } from '../helpers/net.js';
import { visible } from '../../ui/src/text.js';

const FIX = fileURLToPath(new URL('../fixtures/geoip/', import.meta.url));
const CHROMIUM = process.env.SIPWARDEN_CHROMIUM ?? '/usr/bin/chromium';
const TOKEN = 'dash-token-7f3a';
const NS_D = `swUiD${process.pid % 100_000}`;
const NS_S = `swUiS${process.pid % 100_000}`;
const ORIGIN = 'http://127.0.0.1:8082';
const GB_DST = '81.2.69.1'; // reached from 81.2.69.160 (GB)
const SE_DST = '89.160.20.1'; // reached from 89.160.20.112 (SE, AS29518)

function sh(cmd: string, args: string[], okToFail = false): void {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    if (!okToFail) throw err;
  }
}

/** Runs a scanner in the scanners' namespace. */
const inS = (tool: string, args: string[], ms = 60_000) => runTool('ip', ['netns', 'exec', NS_S, tool, ...args], ms);

/** Sends one UDP datagram from the scanners' namespace (a probe no scanner would write). */
function sendUdp(dst: string, text: string): Promise<void> {
  const code = `const s=require('dgram').createSocket('udp4');s.send(Buffer.from(process.argv[1],'base64'),5060,process.argv[2],()=>s.close());`;
  return new Promise((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', NS_S, process.execPath, '-e', code, Buffer.from(text).toString('base64'), dst], { stdio: 'ignore' });
    p.on('error', reject);
    p.on('exit', () => resolve());
  });
}

/** True when a PNG is not one flat colour: its decompressed scanlines hold many distinct byte values. */
function pngVaried(png: Buffer): boolean {
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
  const idat: Buffer[] = [];
  for (let off = 8; off < png.length;) {
    const len = png.readUInt32BE(off);
    const type = png.subarray(off + 4, off + 8).toString();
    if (type === 'IDAT') idat.push(png.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const seen = new Set<number>();
  for (let i = 0; i < raw.length; i += 7) seen.add(raw[i]!);
  return seen.size > 40;
}

async function until<T>(fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('dashboard in Chromium', { timeout: 600_000 }, () => {
  let d: Daemon;
  let browser: Browser;
  let page: Page;
  const shots = tempDir('sipwarden-ui-shots-');
  const scratch = tempDir('sipwarden-ui-');
  const requests: string[] = [];
  const consoleErrors: string[] = [];

  /** GET through the page (Chromium is the only process in the daemon's namespace that speaks HTTP). */
  const api = <T>(path: string): Promise<T> => page.evaluate(async ([p, t]) => {
    const r = await fetch(p!, { headers: { authorization: `Bearer ${t}` } });
    if (!r.ok) throw new Error(`${p}: ${r.status}`);
    return r.json();
  }, [path, TOKEN]) as Promise<T>;

  const shot = async (name: string): Promise<void> => {
    const png = await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
    assert.ok(pngVaried(png), `screenshot ${name} is blank`);
  };

  before(async () => {
    for (const ns of [NS_D, NS_S]) {
      sh('ip', ['netns', 'del', ns], true);
      sh('ip', ['netns', 'add', ns]);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    sh('ip', ['-n', NS_D, 'link', 'add', 'vd', 'type', 'veth', 'peer', 'name', 'vs', 'netns', NS_S]);
    for (const a of [`${GB_DST}/24`, `${SE_DST}/24`]) sh('ip', ['-n', NS_D, 'addr', 'add', a, 'dev', 'vd']);
    for (const a of ['81.2.69.160/24', '89.160.20.112/24']) sh('ip', ['-n', NS_S, 'addr', 'add', a, 'dev', 'vs']);
    sh('ip', ['-n', NS_D, 'link', 'set', 'vd', 'up']);
    sh('ip', ['-n', NS_S, 'link', 'set', 'vs', 'up']);
    d = await startDaemon([
      '-r', '-a', '--no-tls', '--sip-listen', '0.0.0.0:5060', '--api-listen', '127.0.0.1:8082', '--api-token', TOKEN, '--api-rate-limit', '0',
      '--geoip-db', join(FIX, 'GeoIP2-City-Test.mmdb'), '--asn-db', join(FIX, 'GeoLite2-ASN-Test.mmdb'),
    ], { prefix: ['ip', 'netns', 'exec', NS_D], expect: { udp: 1, http: 1 }, timeoutMs: 90_000 });
    const wrapper = join(scratch, 'chromium-in-ns');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${NS_D} ${CHROMIUM} "$@"\n`);
    chmodSync(wrapper, 0o755);
    browser = await chromium.launch({ executablePath: wrapper, args: ['--no-sandbox', '--disable-gpu'], timeout: 60_000 });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(20_000);
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    if (d) {
      const code = await d.stop();
      assert.equal(code, 0, `daemon exit code; stderr:\n${d.stderr()}`);
      cleanup(d.dataDir);
    }
    for (const ns of [NS_D, NS_S]) sh('ip', ['netns', 'del', ns], true);
    cleanup(scratch);
    process.stderr.write(`dashboard screenshots: ${shots}\n`);
  });

  test('login: a wrong token is refused with a message; the right one opens the overview', async () => {
    await page.goto(`${ORIGIN}/ui/`);
    await page.waitForSelector('[data-testid=login]');
    await page.fill('[data-testid=token]', 'not-the-token');
    await page.click('button[type=submit]');
    assert.match(await page.textContent('[data-testid=login-error]') ?? '', /wrong token/i);
    assert.equal(await page.evaluate(() => (globalThis as any).sessionStorage.length), 0);
    await shot('login');
    await page.fill('[data-testid=token]', TOKEN);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=overview]');
    assert.equal(await page.evaluate(() => (globalThis as any).sessionStorage.getItem('sipwarden.token')), TOKEN);
    // The token travels only as a header: never in a URL.
    assert.ok(requests.every((u) => !u.includes(TOKEN)), requests.join('\n'));
    // The 401s of the refused token are the only console errors so far; from here on there must be none.
    assert.ok(consoleErrors.every((e) => /401/.test(e)), consoleErrors.join('\n'));
    consoleErrors.length = 0;
  });

  test('after real sipsak/svmap/svcrack probes, the overview counts, top lists and map match the API', async () => {
    for (const n of ['4711', '4712', '4711']) {
      const r = await inS('sipsak', ['-s', `sip:${n}@${GB_DST}:5060`], 20_000);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    }
    const m = await inS('svmap', ['-p5060', SE_DST], 60_000);
    assert.equal(m.code, 0, m.stdout + m.stderr);
    const dict = join(scratch, 'dict.txt');
    writeFileSync(dict, 'password\nadmin\n1234\n');
    const c = await inS('svcrack', ['-u', '100', '-d', dict, '-p', '5060', '--maximumtime=20', SE_DST], 60_000);
    assert.equal(c.code, 0, c.stdout + c.stderr);
    type O = { total_events: number; top: Record<string, { key: string; events: number; label: string | null }[]>; countries: { country: string; events: number }[] };
    // Settled: two reads a second apart agree and hold every probe (3 sipsak + svmap + svcrack's REGISTERs).
    const o = await until(async () => {
      const a = await api<O>('/api/v1/overview');
      await new Promise((r) => setTimeout(r, 1000));
      const b = await api<O>('/api/v1/overview');
      return a.total_events === b.total_events && b.total_events >= 6 ? b : null;
    }, 30_000, 'stored probes');
    await page.reload();
    await page.waitForSelector('[data-testid=overview][data-ready=true]');
    assert.equal(await page.textContent('[data-testid=total-events]'), o.total_events.toLocaleString('en-US'));
    const lists: [string, string][] = [['sources', 'top-sources'], ['numbers', 'top-numbers'], ['user_agents', 'top-user-agents'], ['methods', 'top-methods'], ['countries', 'top-countries'], ['asns', 'top-asns']];
    for (const [k, id] of lists) {
      const rows = await page.$$eval(`[data-testid=${id}] tr[data-key]`, (trs) => trs.map((tr) => [tr.getAttribute('data-key'), tr.querySelector('[data-testid=count]')?.textContent]));
      assert.deepEqual(rows, o.top[k]!.map((i) => [i.key, i.events.toLocaleString('en-US')]), k);
    }
    // The aggregates agree with the API's own lists.
    const srcs = Object.fromEntries(o.top.sources!.map((s) => [s.key, s.events]));
    assert.deepEqual(Object.keys(srcs).sort(), ['81.2.69.160', '89.160.20.112']);
    for (const [ip, n] of Object.entries(srcs)) {
      const l = await api<{ ip_addresses: { count: number; country: string }[] }>(`/api/v1/ip-addresses?source=${ip}`);
      assert.equal(l.ip_addresses[0]!.count, n, ip);
    }
    assert.equal(srcs['81.2.69.160'], 3);
    assert.deepEqual(o.top.asns!.map((a) => [a.key, a.label]), [['29518', 'Bredband2 AB']]);
    // The map: each country's shape carries the API's count and is shaded; the others are not.
    assert.deepEqual(o.countries.map((x) => x.country).sort(), ['GB', 'SE']);
    for (const { country, events } of o.countries) {
      const byCountry = await api<{ ip_addresses: { count: number }[] }>(`/api/v1/ip-addresses?country=${country}`);
      assert.equal(byCountry.ip_addresses.reduce((a, x) => a + x.count, 0), events, country);
      const shapes = await page.$$eval(`[data-testid=world-map] path[data-cc=${country}]`, (ps) => ps.map((p) => [p.getAttribute('data-events'), p.getAttribute('fill')]));
      assert.ok(shapes.length >= 1, `${country} has a shape`);
      for (const [n, fill] of shapes) {
        assert.equal(n, String(events));
        assert.notEqual(fill, '#1f2933');
      }
    }
    const unshaded = await page.$$eval('[data-testid=world-map] path[data-cc=FR]', (ps) => ps.map((p) => p.getAttribute('fill')));
    assert.deepEqual(unshaded, ['#1f2933']);
    await shot('overview');
  });

  test('live feed: a new probe appears within 1 s; pause holds it; filter narrows', async () => {
    await page.goto(`${ORIGIN}/ui/#/live`);
    await until(async () => (await page.textContent('[data-testid=live-state]')) === 'live', 20_000, 'stream connected');
    // Record when each row appears, in the page's clock (the daemon's, same machine).
    await page.evaluate(() => {
      const w = globalThis as any;
      w.seen = {};
      new w.MutationObserver(() => {
        for (const tr of w.document.querySelectorAll('[data-testid=live-events] tr[data-uuid]')) {
          const u = tr.getAttribute('data-uuid');
          w.seen[u] ??= Date.now();
        }
      }).observe(w.document.body, { childList: true, subtree: true });
    });
    const r = await inS('sipsak', ['-s', `sip:4713@${GB_DST}:5060`], 20_000);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const ev = await until(async () => (await api<{ events: { event_uuid: string; event_time: string; called_number: string }[] }>('/api/v1/events?number=4713')).events[0], 10_000, 'the probe stored');
    const appeared = await until(() => page.evaluate((u) => (globalThis as any).seen[u] as number | undefined, ev.event_uuid), 10_000, 'the row');
    const latency = appeared - Date.parse(ev.event_time);
    assert.ok(latency <= 1000, `row appeared ${latency} ms after capture`);
    await shot('live');

    await page.click('[data-testid=pause]');
    await inS('sipsak', ['-s', `sip:4714@${SE_DST}:5060`], 20_000);
    await until(async () => /paused \(1 new\)/.test(await page.textContent('[data-testid=live-state]') ?? ''), 10_000, 'held event');
    assert.equal(await page.locator('[data-testid=live-events] td[data-testid=number]', { hasText: '4714' }).count(), 0);
    await page.click('[data-testid=pause]');
    await page.locator('[data-testid=live-events] td[data-testid=number]', { hasText: '4714' }).waitFor();
    await page.fill('[data-testid=live-filter]', '89.160');
    const numbers = await page.$$eval('[data-testid=live-events] td[data-testid=number]', (tds) => tds.map((t) => t.textContent));
    assert.deepEqual(numbers, ['4714']);
  });

  test('address detail: counts, numbers tried, block state, credentials with passwords masked until clicked', async () => {
    const ip = '89.160.20.112';
    await page.goto(`${ORIGIN}/ui/#/ip/${ip}`);
    await page.waitForSelector('[data-testid=detail-count]');
    const l = await api<{ ip_addresses: { count: number }[] }>(`/api/v1/ip-addresses?source=${ip}`);
    assert.equal(await page.textContent('[data-testid=detail-count]'), l.ip_addresses[0]!.count.toLocaleString('en-US'));
    await page.waitForSelector('[data-testid=block-state]');
    await page.waitForSelector('[data-testid=credentials-table] tbody tr');
    const creds = await api<{ credentials: { password: string | null }[] }>(`/api/v1/credentials?source=${ip}`);
    const passwords = creds.credentials.map((x) => x.password).filter((p): p is string => p !== null);
    assert.ok(passwords.includes('1234'), JSON.stringify(creds));
    const cells = await page.$$eval('[data-testid=credentials-table] tbody td', (tds) => tds.map((t) => t.textContent ?? ''));
    for (const p of passwords) assert.ok(!cells.some((c) => c.includes(p)), `password ${p} shown before a click`);
    const masked = page.locator('button[data-testid=password]');
    assert.equal(await masked.count(), passwords.length);
    assert.equal(await masked.first().textContent(), '••••••');
    await masked.first().click();
    const revealed = await page.locator('span[data-testid=password]').first().textContent();
    assert.ok(passwords.includes(revealed ?? ''), `revealed ${revealed}`);
    assert.equal(await page.locator('button[data-testid=password]').count(), passwords.length - 1);
    const tried = await page.$$eval('[data-testid=detail-numbers] td.key', (tds) => tds.map((t) => t.textContent));
    assert.ok(tried.includes('4714'), tried.join(','));
    await shot('address');
  });

  test('number detail: count and the sources that called it', async () => {
    await page.goto(`${ORIGIN}/ui/#/number/4711`);
    await page.waitForSelector('[data-testid=detail-count]');
    const n = await api<{ numbers: { called_number: string; count: number }[] }>('/api/v1/numbers?number=4711');
    assert.equal(await page.textContent('[data-testid=detail-count]'), String(n.numbers.find((x) => x.called_number === '4711')!.count));
    assert.equal(await page.textContent('[data-testid=detail-count]'), '2');
    await page.waitForSelector('[data-testid=detail-sources] a');
    assert.deepEqual(await page.$$eval('[data-testid=detail-sources] td.key', (tds) => tds.map((t) => t.textContent)), ['81.2.69.160']);
    await shot('number');
  });

  test('credentials, peers and enforcement views render', async () => {
    await page.goto(`${ORIGIN}/ui/#/credentials`);
    await page.waitForSelector('[data-testid=credentials-table] tbody tr');
    assert.ok(await page.locator('button[data-testid=password]').count() > 0);
    await shot('credentials');
    await page.goto(`${ORIGIN}/ui/#/peers`);
    await page.waitForSelector('[data-testid=peers] h3');
    await shot('peers');
    await page.goto(`${ORIGIN}/ui/#/enforcement`);
    await page.waitForSelector('[data-testid=firewall]');
    assert.equal(await page.textContent('[data-testid=firewall]'), 'off');
    await shot('enforcement');
  });

  test('attacker strings (markup, control characters, RTL marks) render as text, never as markup', async () => {
    const ua = '<img src=x onerror="window.__xss=2"><script>window.__xss=1</script>\u202eevil\u0007bell';
    const user = '%3Cb%3E77\u202e';
    const msg = `OPTIONS sip:${user}@${GB_DST} SIP/2.0\r\nVia: SIP/2.0/UDP 81.2.69.160:5099;branch=z9hG4bK-xss1\r\nFrom: <sip:x@81.2.69.160>;tag=1\r\n`
      + `To: <sip:${user}@${GB_DST}>\r\nCall-ID: xss-ui-1\r\nCSeq: 1 OPTIONS\r\nUser-Agent: ${ua}\r\nContent-Length: 0\r\n\r\n`;
    await page.goto(`${ORIGIN}/ui/#/live`);
    await until(async () => (await page.textContent('[data-testid=live-state]')) === 'live', 20_000, 'stream connected');
    await sendUdp(GB_DST, msg);
    type E = { event_uuid: string; user_agent: string; called_number: string };
    const ev = await until(async () => (await api<{ events: E[] }>('/api/v1/events?limit=20')).events.find((e) => e.user_agent.includes('__xss')), 10_000, 'the hostile probe');
    assert.ok(ev.user_agent.includes('<script>'), ev.user_agent);
    assert.ok(ev.called_number.includes('\u202e'), JSON.stringify(ev.called_number));
    const row = page.locator(`[data-testid=live-events] tr[data-uuid="${ev.event_uuid}"]`);
    await row.waitFor();
    assert.equal(await row.locator('td[data-testid=ua]').textContent(), visible(ev.user_agent));
    assert.equal(await row.locator('td[data-testid=number]').textContent(), visible(ev.called_number));
    // Nothing the attacker wrote became an element or ran.
    for (const view of ['#/live', '#/', `#/ip/81.2.69.160`, `#/number/${encodeURIComponent(ev.called_number)}`]) {
      await page.goto(`${ORIGIN}/ui/${view}`);
      await page.waitForSelector('main > *');
      await page.waitForTimeout(500);
      assert.equal(await page.evaluate(() => (globalThis as any).__xss), undefined, view);
      assert.equal(await page.locator('main img, main script, main iframe, main [onerror], main [onload], main svg:not([data-testid=world-map])').count(), 0, view);
    }
    await page.goto(`${ORIGIN}/ui/#/`);
    await page.waitForSelector('[data-testid=overview][data-ready=true]');
    const uas = await page.$$eval('[data-testid=top-user-agents] tr[data-key]', (trs) => trs.map((tr) => tr.getAttribute('data-key')));
    assert.ok(uas.includes(ev.user_agent));
    await shot('xss');
  });

  test('no request left the origin and no console error occurred', () => {
    assert.ok(requests.length > 10);
    const foreign = requests.filter((u) => !u.startsWith(`${ORIGIN}/`));
    assert.deepEqual(foreign, []);
    assert.deepEqual(consoleErrors, []);
  });
});
