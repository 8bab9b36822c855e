import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** A running test server; `url` has no trailing slash. */
export interface WebServer {
  url: string;
  close(): Promise<void>;
}

/** A handler with the shape of a Next.js route handler. */
export type WebHandler = (req: Request) => Promise<Response>;

type NodeListener = (req: IncomingMessage, res: ServerResponse) => Promise<void>;
const plainServer = (listener: NodeListener): Server => createServer((req, res) => void listener(req, res));

/**
 * Serves a web-standard handler from a real `node:http` server on 127.0.0.1 and a free port,
 * the way Next.js calls route handlers: the request body is a stream (never buffered), and
 * `req.signal` aborts when the client goes away. `serverFor` builds the server (the control
 * plane's own edge, server/http/serve.ts, for a test plane).
 */
export async function serveWeb(handler: WebHandler, serverFor: (listener: NodeListener) => Server = plainServer): Promise<WebServer> {
  const server = serverFor((req, res) => respond(handler, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/** Converts a Node request into a web Request. */
export function toWebRequest(req: IncomingMessage, signal?: AbortSignal): Request {
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
  return new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/'}`, init);
}

async function respond(handler: WebHandler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const aborter = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) aborter.abort();
  });
  let response: Response;
  try {
    response = await handler(toWebRequest(req, aborter.signal));
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(`handler threw: ${String(err)}`);
    return;
  }
  const headers: Record<string, string | string[]> = Object.fromEntries(response.headers);
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  res.writeHead(response.status, headers);
  if (response.body === null) {
    res.end();
    return;
  }
  // As Next.js does: the headers go out with the first chunk of the body (even an empty one),
  // so a stream that never yields never answers.
  const reader = response.body.getReader();
  const first = await reader.read().catch(() => ({ done: true as const, value: undefined }));
  res.flushHeaders();
  async function* rest(): AsyncGenerator<Uint8Array> {
    try {
      if (first.done) return;
      yield first.value;
      for (;;) {
        const next = await reader.read();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }
  // A client that hangs up mid-download is normal; the pipeline tears down both sides.
  await pipeline(Readable.from(rest()), res).catch(() => undefined);
}
