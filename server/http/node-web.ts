import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { retryAfterFor } from './envelope';

/** A handler in the web-standard shape (tRPC's fetch adapter, the REST face, the fs store). */
export type WebHandler = (req: Request) => Promise<Response>;

/**
 * The web Request of a Node request: the body stays a stream (never buffered), and `signal`
 * aborts when the client goes away. `origin` is where the edge is reached (its public URL's
 * scheme and host when a proxy sits in front), so `req.url` is absolute as fetch requires.
 */
export function toWebRequest(req: IncomingMessage, signal?: AbortSignal, origin = `http://${req.headers.host ?? '127.0.0.1'}`): Request {
  // Node's joined view: repeated Cookie headers become one with "; ", as fetch would not.
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.set(name, value);
  }
  const method = req.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const init: RequestInit & { duplex: 'half' } = {
    method,
    headers,
    signal,
    // undici requires duplex: 'half' for a streamed request body.
    duplex: 'half',
    body: hasBody ? (Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>) : null,
  };
  return new Request(`${origin}${req.url ?? '/'}`, init);
}

/**
 * Writes a web Response to `res`. As Next.js does, the headers go out with the first chunk of
 * the body (even an empty one), so a stream that never yields never answers; a client that
 * hangs up mid-stream cancels the body.
 */
export async function sendWebResponse(response: Response, res: ServerResponse): Promise<void> {
  const headers: Record<string, string | string[]> = Object.fromEntries(response.headers);
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  res.writeHead(response.status, { ...retryAfterFor(response.status, headers), ...headers });
  if (response.body === null) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const first = await reader.read().catch(() => ({ done: true as const, value: undefined }));
  if (first.done) {
    res.end();
    return;
  }
  res.flushHeaders();
  async function* rest(): AsyncGenerator<Uint8Array> {
    try {
      yield first.value!;
      for (;;) {
        const next = await reader.read();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }
  await pipeline(Readable.from(rest()), res).catch(() => undefined);
}

/** Serves `handler` for one Node request: the request aborts when the client goes away before the answer is written. */
export async function serveWeb(handler: WebHandler, req: IncomingMessage, res: ServerResponse, origin?: string): Promise<void> {
  const aborter = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) aborter.abort();
  });
  await sendWebResponse(await handler(toWebRequest(req, aborter.signal, origin)), res);
}
