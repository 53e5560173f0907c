/**
 * The dashboard's only way to the node: same-origin fetches with the API token as a bearer header. The token lives in
 * sessionStorage (gone when the tab closes) and is never put in a URL.
 */
const KEY = 'sipwarden.token';

/** Thrown when the node answers 401: the token is wrong or missing. */
export class Unauthorized extends Error {}

export function getToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, token);
}

function headers(token: string | null): Record<string, string> {
  return token ? { authorization: `Bearer ${token}`, accept: 'application/json' } : { accept: 'application/json' };
}

/** GET a JSON route (path and query built by the caller with {@link q}). */
export async function get<T>(path: string, token: string | null = getToken()): Promise<T> {
  const res = await fetch(path, { headers: headers(token), cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
  if (res.status === 401) throw new Unauthorized('wrong token');
  if (!res.ok) {
    let msg = `HTTP ${res.status}`;
    try {
      msg = ((await res.json()) as { error?: string }).error ?? msg;
    } catch { /* not JSON */ }
    throw new Error(msg);
  }
  return (await res.json()) as T;
}

/** `path?k=v&…` with every value encoded; undefined values are left out. */
export function q(path: string, params: Record<string, string | number | undefined>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) if (v !== undefined) parts.push(`${k}=${encodeURIComponent(String(v))}`);
  return parts.length ? `${path}?${parts.join('&')}` : path;
}

/**
 * Reads `/api/v1/events/stream` (EventSource cannot send an Authorization header, so this is fetch with a streamed
 * body and a small SSE parser). Calls `onEvent(type, data)` per message; resolves when the stream ends.
 */
export async function stream(path: string, onEvent: (type: string, data: string) => void, signal: AbortSignal): Promise<void> {
  const res = await fetch(path, { headers: { ...headers(getToken()), accept: 'text/event-stream' }, cache: 'no-store', credentials: 'omit', signal });
  if (res.status === 401) throw new Unauthorized('wrong token');
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let type = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) type = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) onEvent(type, data.join('\n'));
    }
  }
}
