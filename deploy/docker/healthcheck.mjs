#!/usr/bin/env node
// Container health check: GET /health-check on the daemon's API, exit 0 on 200 and 1 otherwise. The address is
// the first of SIPWARDEN_API_LISTEN (a wildcard means the loopback), else the default 127.0.0.1:8082.
const first = (process.env.SIPWARDEN_API_LISTEN ?? '').split(',')[0]?.trim() || '127.0.0.1:8082';
const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(first);
let host = m ? m[1] : '127.0.0.1';
if (host === '0.0.0.0' || host === '') host = '127.0.0.1';
if (host === '::') host = '::1';
const url = `http://${host.includes(':') ? `[${host}]` : host}:${m ? m[2] : '8082'}/health-check`;
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(4000) });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  process.exit(0);
} catch (err) {
  process.stderr.write(`health check ${url}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
