/** The sipwarden dashboard: a single page with hash routes, reading only the token-protected API. */
import { render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { get, getToken, q, setToken, stream, Unauthorized } from './api.js';
import { SeriesChart } from './chart.js';
import { countryName } from './countries.js';
import { WorldMap } from './map.js';
import { num, trend, visible, when } from './text.js';
import type { Bucket, CheckAnswer, Credential, EventItem, IpItem, NumberItem, Overview, Peers, TopItem } from './types.js';
import './style.css';

/** Attacker text as a text node, isolated for bidi, invisible characters shown. */
function T({ s }: { s: string | null | undefined }) {
  return <bdi class="atk">{visible(s)}</bdi>;
}

function useHash(): string {
  const [h, setH] = useState(location.hash || '#/');
  useEffect(() => {
    const on = () => setH(location.hash || '#/');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return h;
}

const ipHref = (ip: string) => `#/ip/${encodeURIComponent(ip)}`;
const numberHref = (n: string) => `#/number/${encodeURIComponent(n)}`;

/** Loads `path` (JSON) and reloads every `everyMs` when given. */
function useApi<T>(path: string | null, onAuth: () => void, everyMs = 0): { data: T | null; error: string | null } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (path === null) return;
    let live = true;
    const load = () => get<T>(path).then((d) => { if (live) { setData(d); setError(null); } }, (e: Error) => {
      if (e instanceof Unauthorized) onAuth();
      else if (live) setError(e.message);
    });
    setData(null);
    void load();
    const t = everyMs > 0 ? setInterval(load, everyMs) : undefined;
    return () => { live = false; if (t) clearInterval(t); };
  }, [path]);
  return { data, error };
}

function Login({ onDone, message }: { onDone: () => void; message: string | null }) {
  const [token, setTok] = useState('');
  const [err, setErr] = useState<string | null>(message);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      await get('/api/v1/overview?limit=1', token);
      setToken(token);
      onDone();
    } catch (x) {
      setErr(x instanceof Unauthorized ? 'Wrong token: the node refused it.' : `Cannot reach the node: ${(x as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="login" data-testid="login" onSubmit={submit} autocomplete="off">
      <h1>sipwarden</h1>
      <label>API token
        <input type="password" name="token" data-testid="token" value={token} onInput={(e) => setTok((e.target as HTMLInputElement).value)} autofocus />
      </label>
      <button type="submit" disabled={busy}>Log in</button>
      {err && <p class="error" role="alert" data-testid="login-error">{err}</p>}
    </form>
  );
}

function Trend({ it }: { it: TopItem }) {
  const t = trend(it.last_24h, it.prev_24h);
  return <span class={`trend ${t.dir}`} title={`last 24 h: ${it.last_24h}, 24 h before: ${it.prev_24h}`}>{t.text}</span>;
}

function TopTable({ title, items, kind, testid }: { title: string; items: TopItem[]; kind: 'ip' | 'number' | 'ua' | 'method' | 'country' | 'asn'; testid: string }) {
  return (
    <section class="card top" data-testid={testid}>
      <h3>{title}</h3>
      <table>
        <tbody>
          {items.length === 0 && <tr><td class="muted">none yet</td></tr>}
          {items.map((it) => (
            <tr data-key={it.key}>
              <td class="key">
                {kind === 'ip' ? <a href={ipHref(it.key)}><T s={it.key} /></a>
                  : kind === 'number' ? <a href={numberHref(it.key)}><T s={it.key} /></a>
                  : kind === 'country' ? <span>{countryName(it.key)} <span class="muted">({it.key})</span></span>
                  : kind === 'asn' ? <span>AS{it.key} <T s={it.label} /></span>
                  : <T s={it.key === '' ? '(none)' : it.key} />}
              </td>
              <td class="n" data-testid="count">{num(it.events)}</td>
              <td class="n"><Trend it={it} /></td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function OverviewView({ onAuth }: { onAuth: () => void }) {
  const { data, error } = useApi<Overview>('/api/v1/overview', onAuth, 10_000);
  const drawn = useRef(0);
  const [ready, setReady] = useState(false);
  const onDrawn = () => { drawn.current++; if (drawn.current >= 2) setReady(true); };
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p class="muted">loading…</p>;
  return (
    <div class="overview" data-testid="overview" data-ready={ready ? 'true' : 'false'}>
      <section class="card totals">
        <div><span class="big" data-testid="total-events">{num(data.total_events)}</span> events</div>
        <div><span class="big" data-testid="last-hour">{num(data.minutes.reduce((a, b) => a + b.events, 0))}</span> in the last hour</div>
        <div class="muted">updated {when(data.generated_at)} UTC</div>
      </section>
      <div class="charts">
        <section class="card"><SeriesChart buckets={data.minutes} title="Events per minute (last hour)" testid="chart-minutes" onDrawn={onDrawn} /></section>
        <section class="card"><SeriesChart buckets={data.hours} title="Events per hour (7 days)" testid="chart-hours" onDrawn={onDrawn} /></section>
      </div>
      <section class="card"><h3>Sources by country</h3><WorldMap counts={data.countries} /></section>
      <div class="grid">
        <TopTable title="Top sources" items={data.top.sources} kind="ip" testid="top-sources" />
        <TopTable title="Top numbers" items={data.top.numbers} kind="number" testid="top-numbers" />
        <TopTable title="Top user agents" items={data.top.user_agents} kind="ua" testid="top-user-agents" />
        <TopTable title="Methods" items={data.top.methods} kind="method" testid="top-methods" />
        <TopTable title="Countries" items={data.top.countries} kind="country" testid="top-countries" />
        <TopTable title="Networks (ASN)" items={data.top.asns} kind="asn" testid="top-asns" />
      </div>
    </div>
  );
}

const LIVE_KEEP = 500;

function LiveView({ onAuth }: { onAuth: () => void }) {
  const [events, setEvents] = useState<EventItem[]>([]);
  const [paused, setPaused] = useState(false);
  const [filter, setFilter] = useState('');
  const [state, setState] = useState('connecting');
  const held = useRef<EventItem[]>([]);
  const pausedRef = useRef(false);
  pausedRef.current = paused;
  useEffect(() => {
    const ac = new AbortController();
    let retry: ReturnType<typeof setTimeout> | undefined;
    const connect = () => {
      stream('/api/v1/events/stream', (type, data) => {
        if (type === 'ready') { setState('live'); return; }
        if (type !== 'event') return;
        const e = JSON.parse(data) as EventItem;
        if (pausedRef.current) { held.current.push(e); setState(`paused (${held.current.length} new)`); return; }
        setEvents((xs) => [e, ...xs].slice(0, LIVE_KEEP));
      }, ac.signal).then(() => {
        if (!ac.signal.aborted) { setState('reconnecting'); retry = setTimeout(connect, 1000); }
      }, (err: Error) => {
        if (err instanceof Unauthorized) { onAuth(); return; }
        if (!ac.signal.aborted) { setState('reconnecting'); retry = setTimeout(connect, 2000); }
      });
    };
    connect();
    return () => { ac.abort(); if (retry) clearTimeout(retry); };
  }, []);
  const toggle = () => {
    if (paused) {
      const h = held.current.reverse();
      held.current = [];
      setEvents((xs) => [...h, ...xs].slice(0, LIVE_KEEP));
      setState('live');
    }
    setPaused(!paused);
  };
  const f = filter.trim().toLowerCase();
  const shown = f ? events.filter((e) => [e.source_ip, e.called_number, e.user_agent, e.method, e.source_country].some((v) => (v ?? '').toLowerCase().includes(f))) : events;
  return (
    <div data-testid="live">
      <div class="toolbar">
        <button type="button" data-testid="pause" onClick={toggle}>{paused ? 'Resume' : 'Pause'}</button>
        <input type="search" placeholder="filter: address, number, user agent, method, country" data-testid="live-filter" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
        <span class="muted" data-testid="live-state">{state}</span>
      </div>
      <EventTable events={shown} testid="live-events" />
    </div>
  );
}

function EventTable({ events, testid }: { events: EventItem[]; testid: string }) {
  return (
    <table class="events" data-testid={testid}>
      <thead><tr><th>time (UTC)</th><th>source</th><th>country</th><th>transport</th><th>method</th><th>number</th><th>user agent</th><th>origin</th></tr></thead>
      <tbody>
        {events.map((e) => (
          <tr key={e.event_uuid} data-uuid={e.event_uuid}>
            <td>{when(e.event_time)}</td>
            <td><a href={ipHref(e.source_ip)}><T s={e.source_ip} /></a></td>
            <td>{e.source_country ?? '—'}</td>
            <td>{e.transport}</td>
            <td><T s={e.method} /></td>
            <td data-testid="number">{e.called_number ? <a href={numberHref(e.called_number)}><T s={e.called_number} /></a> : '—'}</td>
            <td data-testid="ua"><T s={e.user_agent} /></td>
            <td>{e.origin}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Events per hour from a sample of events (newest first), oldest first, for the timeline chart. */
function hourly(events: EventItem[]): Bucket[] {
  const by = new Map<number, number>();
  for (const e of events) {
    if (!e.event_time) continue;
    const h = Math.floor(Date.parse(e.event_time) / 3_600_000);
    by.set(h, (by.get(h) ?? 0) + 1);
  }
  if (by.size === 0) return [];
  const hs = [...by.keys()];
  const lo = Math.min(...hs);
  const hi = Math.max(...hs, Math.floor(Date.now() / 3_600_000));
  const out: Bucket[] = [];
  // At least a day, at most two weeks, so a single busy hour still reads as a bar on a time axis.
  for (let h = Math.max(Math.min(lo, hi - 23), hi - 24 * 14); h <= hi; h++) out.push({ t: new Date(h * 3_600_000).toISOString(), events: by.get(h) ?? 0 });
  return out;
}

function counts(values: (string | null)[]): [string, number][] {
  const m = new Map<string, number>();
  for (const v of values) if (v !== null) m.set(v, (m.get(v) ?? 0) + 1);
  return [...m.entries()].sort((a, b) => b[1] - a[1]);
}

function Counts({ title, rows, link, testid }: { title: string; rows: [string, number][]; link?: (k: string) => string; testid: string }) {
  return (
    <section class="card top" data-testid={testid}>
      <h3>{title}</h3>
      <table><tbody>
        {rows.length === 0 && <tr><td class="muted">none</td></tr>}
        {rows.slice(0, 20).map(([k, n]) => <tr><td class="key">{link ? <a href={link(k)}><T s={k} /></a> : <T s={k} />}</td><td class="n">{num(n)}</td></tr>)}
      </tbody></table>
    </section>
  );
}

function Password({ value }: { value: string | null }) {
  const [shown, setShown] = useState(false);
  if (value === null) return <span class="muted">—</span>;
  return shown
    ? <span class="password" data-testid="password"><T s={value} /></span>
    : <button type="button" class="masked" data-testid="password" title="show password" onClick={() => setShown(true)}>••••••</button>;
}

function CredentialTable({ creds }: { creds: Credential[] }) {
  return (
    <table class="events" data-testid="credentials-table">
      <thead><tr><th>time (UTC)</th><th>source</th><th>method</th><th>username</th><th>realm</th><th>password</th><th>user agent</th></tr></thead>
      <tbody>
        {creds.map((c) => (
          <tr key={c.id}>
            <td>{when(c.event_time)}</td>
            <td><a href={ipHref(c.source_ip)}><T s={c.source_ip} /></a></td>
            <td><T s={c.method} /></td>
            <td data-testid="username"><T s={c.username} /></td>
            <td><T s={c.realm} /></td>
            <td><Password value={c.password} /></td>
            <td><T s={c.user_agent} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function BlockState({ check }: { check: CheckAnswer | null }) {
  if (!check) return <span class="muted">…</span>;
  const until = check.ip?.blocked_until ?? check.number?.blocked_until ?? null;
  return (
    <span data-testid="block-state" class={check.verdict === 'block' ? 'blocked' : 'allowed'}>
      {check.verdict === 'block' ? `blocked${until ? ` until ${when(until)} UTC` : ''}` : 'not blocked'}
      <span class="muted"> ({check.reasons.join(', ')})</span>
    </span>
  );
}

function Peers({ events }: { events: EventItem[] }) {
  const peers = counts(events.filter((e) => e.origin === 'peer' || e.origin === 'opendht').map((e) => `${e.origin}: ${e.origin_peer_id ?? 'unknown'}`));
  return <Counts title="Peers that also saw it" rows={peers} testid="detail-peers" />;
}

function IpView({ ip, onAuth }: { ip: string; onAuth: () => void }) {
  const info = useApi<{ ip_addresses: IpItem[] }>(q('/api/v1/ip-addresses', { source: ip, limit: 1 }), onAuth);
  const ev = useApi<{ events: EventItem[] }>(q('/api/v1/events', { source: ip, limit: 500 }), onAuth);
  const cr = useApi<{ credentials: Credential[] }>(q('/api/v1/credentials', { source: ip, limit: 200 }), onAuth);
  const ck = useApi<CheckAnswer>(q('/api/v1/check', { ip }), onAuth);
  const it = info.data?.ip_addresses[0];
  const events = ev.data?.events ?? [];
  const series = useMemo(() => hourly(events), [ev.data]);
  return (
    <div data-testid="ip-detail">
      <h2>Address <T s={ip} /></h2>
      {info.error && <p class="error">{info.error}</p>}
      {info.data && !it && <p class="muted">never seen</p>}
      {it && (
        <section class="card facts">
          <div>events <b data-testid="detail-count">{num(it.count)}</b></div>
          <div>first seen {when(it.first_seen)} · last seen {when(it.last_seen)} UTC</div>
          <div>{countryName(it.country)}{it.city ? `, ${it.city}` : ''}{it.asn !== null ? ' · AS' + it.asn + ' ' : ''}<T s={it.org} /></div>
          <div>{it.verified ? 'proven source (TCP/TLS or echoed nonce)' : 'unproven source (UDP, may be spoofed)'} · {it.transports.join(', ')}</div>
          <div>block state: <BlockState check={ck.data} /></div>
        </section>
      )}
      {series.length > 0 && <section class="card"><SeriesChart buckets={series} title="Timeline (events per hour, newest 500 events)" testid="detail-timeline" /></section>}
      <div class="grid">
        <Counts title="Methods" rows={counts(events.map((e) => e.method))} testid="detail-methods" />
        <Counts title="Numbers tried" rows={counts(events.map((e) => e.called_number))} link={numberHref} testid="detail-numbers" />
        <Counts title="User agents" rows={counts(events.map((e) => e.user_agent))} testid="detail-uas" />
        <Peers events={events} />
      </div>
      <section class="card"><h3>Credentials tried</h3>{cr.data && <CredentialTable creds={cr.data.credentials} />}</section>
      <section class="card"><h3>Events (newest 500)</h3><EventTable events={events} testid="detail-events" /></section>
    </div>
  );
}

function NumberView({ n, onAuth }: { n: string; onAuth: () => void }) {
  const digits = /^\+?[0-9]{1,32}$/.test(n);
  const info = useApi<{ numbers: NumberItem[] }>(digits ? q('/api/v1/numbers', { number: n, limit: 50 }) : null, onAuth);
  const ev = useApi<{ events: EventItem[] }>(digits ? q('/api/v1/events', { number: n, limit: 500 }) : null, onAuth);
  const ck = useApi<CheckAnswer>(digits ? q('/api/v1/check', { number: n }) : null, onAuth);
  const it = info.data?.numbers.find((x) => x.called_number === n);
  const events = (ev.data?.events ?? []).filter((e) => e.called_number === n);
  const series = useMemo(() => hourly(events), [ev.data]);
  return (
    <div data-testid="number-detail">
      <h2>Number <T s={n} /></h2>
      {!digits && <p class="muted">Only numbers (digits with an optional +) have a detail page.</p>}
      {info.data && !it && <p class="muted">never seen</p>}
      {it && (
        <section class="card facts">
          <div>events <b data-testid="detail-count">{num(it.count)}</b> from <b>{num(it.distinct_sources)}</b> sources</div>
          <div>E.164 <T s={it.called_number_e164} /> · {countryName(it.country)} · {it.number_type ?? 'unknown type'}</div>
          <div>first seen {when(it.first_seen)} · last seen {when(it.last_seen)} UTC</div>
          <div>call-check: <BlockState check={ck.data} /></div>
        </section>
      )}
      {series.length > 0 && <section class="card"><SeriesChart buckets={series} title="Timeline (events per hour, newest 500 events)" testid="detail-timeline" /></section>}
      <div class="grid">
        <Counts title="Sources" rows={counts(events.map((e) => e.source_ip))} link={ipHref} testid="detail-sources" />
        <Counts title="Methods" rows={counts(events.map((e) => e.method))} testid="detail-methods" />
        <Counts title="User agents" rows={counts(events.map((e) => e.user_agent))} testid="detail-uas" />
        <Peers events={events} />
      </div>
      <section class="card"><h3>Events (newest 500)</h3><EventTable events={events} testid="detail-events" /></section>
    </div>
  );
}

function CredentialsView({ onAuth }: { onAuth: () => void }) {
  const cr = useApi<{ credentials: Credential[] }>('/api/v1/credentials?limit=500', onAuth);
  return (
    <div data-testid="credentials">
      <h2>Credentials seen</h2>
      <p class="muted">Passwords are shown only when clicked.</p>
      {cr.error && <p class="error">{cr.error}</p>}
      {cr.data && <CredentialTable creds={cr.data.credentials} />}
    </div>
  );
}

function PeersView({ onAuth }: { onAuth: () => void }) {
  const { data, error } = useApi<Peers>('/api/v1/peers', onAuth, 10_000);
  return (
    <div data-testid="peers">
      <h2>Peers</h2>
      {error && <p class="error">{error}</p>}
      {data && (
        <>
          <section class="card"><h3>libp2p</h3>
            {data.peers.length === 0 ? <p class="muted">no connected peers (peer-to-peer off or alone)</p> : (
              <table class="events"><thead><tr><th>peer</th><th>addresses</th><th>since</th><th>received</th><th>rejected</th><th>score</th></tr></thead>
                <tbody>{data.peers.map((p) => <tr><td><T s={p.id} /></td><td><T s={p.addresses.join(' ')} /></td><td>{when(p.connected_since)}</td><td>{num(p.records_received)}</td><td>{num(p.records_rejected)}</td><td>{p.score.toFixed(1)}</td></tr>)}</tbody></table>
            )}
          </section>
          <section class="card"><h3>OpenDHT</h3>
            {data.opendht === null ? <p class="muted">not running</p> : (
              <div class="facts"><div>node <T s={data.opendht.node_id} /> port {data.opendht.port ?? '—'} · bootstrap {data.opendht.bootstrap_state}</div>
                <div>values received {num(data.opendht.values_received)}, accepted {num(data.opendht.values_accepted)}, rejected {num(data.opendht.values_rejected)}, published {num(data.opendht.values_published)}</div></div>
            )}
          </section>
        </>
      )}
    </div>
  );
}

function EnforcementView({ onAuth }: { onAuth: () => void }) {
  const { data, error } = useApi<Overview>('/api/v1/overview?limit=1', onAuth, 10_000);
  const e = data?.enforcement;
  return (
    <div data-testid="enforcement">
      <h2>Enforcement</h2>
      {error && <p class="error">{error}</p>}
      {e && (
        <section class="card facts">
          <div>firewall: <b data-testid="firewall">{e.firewall}</b></div>
          {e.block_set
            ? <div>block set: <b data-testid="block-v4">{num(e.block_set.ipv4)}</b> IPv4, <b data-testid="block-v6">{num(e.block_set.ipv6)}</b> IPv6 addresses (change {e.block_set.seq})</div>
            : <div class="muted">no block set running</div>}
          {e.policy && <div>policy: {e.policy.min_hits} hits{e.policy.verified_only ? ' from proven sources' : ''}, blocked {Math.round(e.policy.ttl_seconds / 3600)} h after the last, at most {num(e.policy.max)} per family{e.policy.peers ? ', peer records count' : ''}</div>}
        </section>
      )}
    </div>
  );
}

function Search() {
  const [v, setV] = useState('');
  const go = (e: Event) => {
    e.preventDefault();
    const s = v.trim();
    if (!s) return;
    location.hash = /^\+?[0-9]{1,32}$/.test(s) ? numberHref(s) : ipHref(s);
  };
  return <form class="search" onSubmit={go}><input type="search" placeholder="address or number" value={v} onInput={(e) => setV((e.target as HTMLInputElement).value)} data-testid="search" /></form>;
}

function App() {
  // A stored token (this tab) goes straight to the page, whose first request proves it; no token at all is tried
  // once, for a node that has none configured. A 401 from any request brings the login form back.
  const [authed, setAuthed] = useState<boolean | null>(getToken() !== null ? true : null);
  const [msg, setMsg] = useState<string | null>(null);
  const hash = useHash();
  useEffect(() => {
    if (authed !== null) return;
    get('/api/v1/overview?limit=1', null).then(() => { setToken(''); setAuthed(true); }, (e: Error) => {
      if (!(e instanceof Unauthorized)) setMsg(`Cannot reach the node: ${e.message}`);
      setAuthed(false);
    });
  }, []);
  const onAuth = () => {
    const had = getToken();
    setToken(null);
    setMsg(had ? 'Your token was refused; log in again.' : null);
    setAuthed(false);
  };
  if (authed === null) return <p class="muted">…</p>;
  if (!authed) return <Login onDone={() => { setMsg(null); setAuthed(true); }} message={msg} />;
  const [, route = '', arg = ''] = /^#\/([a-z]*)\/?(.*)$/.exec(hash) ?? [];
  const param = (() => { try { return decodeURIComponent(arg); } catch { return arg; } })();
  const nav = [['', 'Overview'], ['live', 'Live'], ['credentials', 'Credentials'], ['peers', 'Peers'], ['enforcement', 'Enforcement']] as const;
  return (
    <>
      <header>
        <b class="brand">sipwarden</b>
        <nav>{nav.map(([r, label]) => <a href={`#/${r}`} class={route === r ? 'on' : ''} data-testid={`nav-${r || 'overview'}`}>{label}</a>)}</nav>
        <Search />
        <button type="button" class="logout" data-testid="logout" onClick={() => { setToken(null); setMsg(null); setAuthed(false); }}>Log out</button>
      </header>
      <main>
        {route === '' && <OverviewView onAuth={onAuth} />}
        {route === 'live' && <LiveView onAuth={onAuth} />}
        {route === 'ip' && <IpView key={param} ip={param} onAuth={onAuth} />}
        {route === 'number' && <NumberView key={param} n={param} onAuth={onAuth} />}
        {route === 'credentials' && <CredentialsView onAuth={onAuth} />}
        {route === 'peers' && <PeersView onAuth={onAuth} />}
        {route === 'enforcement' && <EnforcementView onAuth={onAuth} />}
        {!['', 'live', 'ip', 'number', 'credentials', 'peers', 'enforcement'].includes(route) && <p>Unknown page.</p>}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
