/**
 * Test helper: a raw HTTP/1.1 client that keeps header order (rawHeaders) and the exact body bytes.
 */
import { request } from 'node:http';

export interface RawResponse {
  status: number;
  /** [name, value] in wire order; names lowercased. */
  headers: [string, string][];
  body: string;
  header(name: string): string | undefined;
}

/** Sends one request to host:port; `path` is sent verbatim (no normalisation). */
export function http(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; host?: string; body?: string; timeoutMs?: number } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: opts.host ?? '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers, agent: false, timeout: opts.timeoutMs ?? 20_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const headers: [string, string][] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) headers.push([res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!]);
          resolve({
            status: res.statusCode ?? 0,
            headers,
            body: Buffer.concat(chunks).toString('utf8'),
            header: (n) => headers.find(([k]) => k === n.toLowerCase())?.[1],
          });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Header names in order, without the hop-by-hop ones Node adds (connection, keep-alive, transfer-encoding). */
export function headerNames(r: RawResponse): string[] {
  return r.headers.map(([k]) => k).filter((k) => !['connection', 'keep-alive', 'transfer-encoding'].includes(k));
}
