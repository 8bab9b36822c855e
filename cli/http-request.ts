import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { createRequire } from 'node:module';

// Keep-alive: a deploy's API calls and PUTs reuse connections; idle sockets are unref'd by Node.
const httpAgent = new HttpAgent({ keepAlive: true });
let https: { agent: HttpsAgent; request: typeof httpRequest } | undefined;

/**
 * node:http's or node:https's request function and keep-alive agent for `url`. node:https (and
 * TLS with it) is loaded only for an https URL: most runs of the CLI never need it.
 */
export function transportFor(url: URL): { request: (url: URL, opts: RequestOptions, onResponse: (res: IncomingMessage) => void) => ClientRequest; agent: HttpAgent | HttpsAgent } {
  if (url.protocol !== 'https:') return { request: httpRequest, agent: httpAgent };
  if (!https) {
    const mod = createRequire(import.meta.url)('node:https') as typeof import('node:https');
    https = { agent: new mod.Agent({ keepAlive: true }), request: mod.request };
  }
  return https;
}

/** The part of a fetch Response the tRPC client reads. */
export interface HttpResponse {
  ok: boolean;
  status: number;
  statusText: string;
  headers: { get(name: string): string | null };
  json(): Promise<unknown>;
  text(): Promise<string>;
}

interface HttpRequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | null;
  signal?: AbortSignal | null;
}

/**
 * A fetch for the control-plane API over node:http. Node's global fetch loads undici on first
 * use, ~15 ms of a command's start on our machines, and the PUTs need node:http anyway. Network
 * failures reject with node's own errors (ECONNREFUSED, ...), which isNetworkError maps to exit 40.
 */
export function httpFetch(input: string | URL | { url: string }, init: HttpRequestInit = {}): Promise<HttpResponse> {
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  const { request, agent } = transportFor(url);
  const headers: Record<string, string> = { ...init.headers };
  const body = init.body ?? undefined;
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers, agent, signal: init.signal ?? undefined }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('error', reject);
      res.once('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        resolve({
          ok: status >= 200 && status < 300,
          status,
          statusText: res.statusMessage ?? '',
          headers: { get: (name) => headerValue(res, name) },
          json: async () => JSON.parse(text) as unknown,
          text: async () => text,
        });
      });
    });
    req.once('error', reject);
    req.end(body);
  });
}

function headerValue(res: IncomingMessage, name: string): string | null {
  const value = res.headers[name.toLowerCase()];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}
