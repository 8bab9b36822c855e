/**
 * The local runtime's HTTP router: `<app>.<domain>` (and `<id prefix>--<app>.<domain>`) to the
 * app's instances on 127.0.0.1: a node:http server, and undici's keep-alive pools towards the
 * instances (about a fifth less CPU per request than node:http's client). Streams bodies both
 * ways (uploads, downloads, SSE), relays WebSocket upgrades, retries a bodyless request once when
 * the instance it picked was just gone, and counts every request per instance port so a switch
 * can drain the old release.
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Agent, type Dispatcher } from 'undici';
import type { Logger } from '../../../logger';
import { originForm, responseHead, scanRequestHead, type RequestHead } from './forward-headers';
import { createHostParser, type HostRoute } from './host';
import { BAD_HOST_PAGE, crashLoopPage, noInstancePage, NOT_FOUND_PAGE, rawPage, type Page } from './pages';
import { DEPLOYMENT_PREFIX_LENGTH, type Resolution, type RouteTable } from './route-table';
import { relayUpgrade } from './upgrade';

export interface RouterOptions {
  table: RouteTable;
  /** Apps are served at `<app>.<domain>`. */
  domain?: string;
  log?: Logger;
  /** A client must send its whole request head within this (slowloris). */
  headersTimeoutMs?: number;
  /** Whole-request limit; 0 (default) keeps long responses (SSE, streams) alive. */
  requestTimeoutMs?: number;
  /** Idle client keep-alive connections close after this (Node's 5 s by default). */
  keepAliveTimeoutMs?: number;
  /** Request head size limit; a larger head is answered 431. */
  maxHeaderSize?: number;
  /**
   * Behind HAProxy: the secret it sends on what it hands over. Such a request's X-Forwarded-For
   * already ends with the client, so the loopback peer is not appended again (an app trusting
   * one proxy hop sees the client); anyone else connecting here directly is appended as usual.
   */
  frontSecret?: string;
}

export interface Router {
  listen(port: number, host: string): Promise<{ port: number }>;
  port(): number | null;
  /** `http://<app>.<domain>:<port>` */
  url(appName: string): string;
  /** `http://<first 8 of id>--<app>.<domain>:<port>` */
  deploymentUrl(appName: string, deploymentId: string): string;
  close(): Promise<void>;
}

const INSTANCE_HOST = '127.0.0.1';
/** Below Node's 5 s server keep-alive timeout, so the instance never closes a socket we are about to reuse. */
const FREE_SOCKET_TIMEOUT_MS = 4_000;
const RETRY_SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** A connection closed under a request before any answer (undici reports a peer close as UND_ERR_SOCKET). */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/** One proxied request: what the shared (closure-free) event handlers below need. */
class Exchange {
  /** Port counted in the table (begin done, end not yet), or null. */
  port: number | null = null;
  /** Cancels the upstream request (undici's handle), once dispatched. */
  abort: ((err?: Error) => void) | null = null;
  /** Resumes the instance's paused response once the client drained. */
  resume: (() => void) | null = null;
  /** Undici is done with the upstream request (complete or failed). */
  completed = false;
  responded = false;
  retried = false;
  constructor(
    readonly router: RouterCore,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly route: HostRoute,
    readonly head: RequestHead,
    readonly requestId: string,
    readonly upstreamHeaders: string[],
    readonly bodyless: boolean,
  ) {}
}

// The exchange is undici's dispatch handler: the methods below, on the prototype.
interface Exchange extends Dispatcher.DispatchHandler {}

interface RouterCore {
  table: RouteTable;
  /** Requests: undici, pooled per instance origin. */
  upstream: Agent;
  /** WebSocket upgrades: node:http. */
  agent: http.Agent;
}

// pipelining 1: one request at a time per connection, like a browser; connections unbounded like the agent's.
const newUpstream = () =>
  new Agent({ keepAliveTimeout: FREE_SOCKET_TIMEOUT_MS, keepAliveMaxTimeout: FREE_SOCKET_TIMEOUT_MS, pipelining: 1, headersTimeout: 0, bodyTimeout: 0 });
const newUpgradeAgent = () =>
  new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024, timeout: FREE_SOCKET_TIMEOUT_MS, scheduling: 'lifo', noDelay: true });

const kExchange = Symbol('exchange');
type Tagged<T> = T & { [kExchange]?: Exchange };

export function createRouter(options: RouterOptions): Router {
  const { table, domain = 'localhost', log, headersTimeoutMs = 10_000, requestTimeoutMs = 0, keepAliveTimeoutMs, maxHeaderSize = 16 * 1024, frontSecret } = options;
  const fromFront = frontSecret === undefined ? () => false : sameSecret(frontSecret);
  // Made anew after close(): a router closed (workers stopped) may listen again in the same process.
  const core: RouterCore = { table, upstream: newUpstream(), agent: newUpgradeAgent() };
  const hostRoute = createHostParser(domain);
  const upgraded = new Set<Socket>();

  const server = http.createServer({
    maxHeaderSize,
    headersTimeout: headersTimeoutMs,
    requestTimeout: requestTimeoutMs,
    // Node checks the two timeouts on this interval (30 s by default): a slowloris would outlive headersTimeout.
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(headersTimeoutMs / 4))),
    noDelay: true,
  });
  if (keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = keepAliveTimeoutMs;

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const head = scanRequestHead(req.rawHeaders, false);
    const requestId = head.requestId ?? randomUUID();
    if (head.hostRepeated) return sendPage(res, BAD_HOST_PAGE, requestId);
    const route = hostRoute(head.host);
    if (route === null) return sendPage(res, NOT_FOUND_PAGE, requestId);
    const resolution = table.resolve(route.appName, route.deploymentPrefix);
    if (resolution.kind !== 'target') return sendPage(res, pageFor(resolution), requestId);
    const bodyless = !head.chunked && (head.contentLength === undefined || head.contentLength === '0');
    const upstreamHeaders = forwardedHeaders(head, req, requestId, false, fromFront(head.frontToken));
    const ex = new Exchange(core, req, res, route, head, requestId, upstreamHeaders, bodyless);
    (res as Tagged<ServerResponse>)[kExchange] = ex;
    res.on('close', onClientClose);
    table.begin(resolution.port);
    ex.port = resolution.port;
    send(ex);
  });

  server.on('upgrade', (req: IncomingMessage, socket: Socket, bodyHead: Buffer) => {
    socket.on('error', ignore);
    const head = scanRequestHead(req.rawHeaders, true);
    const requestId = head.requestId ?? randomUUID();
    const route = head.hostRepeated ? null : hostRoute(head.host);
    const resolution: Resolution | null = route && table.resolve(route.appName, route.deploymentPrefix);
    if (resolution === null || resolution.kind !== 'target') {
      const page = head.hostRepeated ? BAD_HOST_PAGE : resolution === null ? NOT_FOUND_PAGE : pageFor(resolution);
      socket.end(rawPage(page, requestId));
      return;
    }
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    relayUpgrade({ agent: core.agent, table, req, socket, bodyHead, port: resolution.port, headers: forwardedHeaders(head, req, requestId, true, fromFront(head.frontToken)), requestId, appName: route!.appName });
  });

  const listeningPort = (): number | null => {
    const address = server.address();
    return address && typeof address === 'object' ? address.port : null;
  };

  server.on('clientError', onClientError);
  server.on('error', (err) => log?.error('router server error', { error: err }));

  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve({ port: (server.address() as AddressInfo).port });
        });
      });
    },
    port: listeningPort,
    url(appName) {
      return `http://${appName}.${domain}:${listeningPort()}`;
    },
    deploymentUrl(appName, deploymentId) {
      return `http://${deploymentId.slice(0, DEPLOYMENT_PREFIX_LENGTH)}--${appName}.${domain}:${listeningPort()}`;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const socket of upgraded) socket.destroy();
      const { agent, upstream } = core;
      Object.assign(core, { upstream: newUpstream(), agent: newUpgradeAgent() });
      agent.destroy();
      await upstream.destroy();
      if (server.listening) await closed;
    },
  };
}

function ignore(): void {}

/** Compares in constant time: the secret is what a local process would guess at. */
function sameSecret(secret: string): (token: string | undefined) => boolean {
  const expected = Buffer.from(secret, 'latin1');
  // Header values arrive as latin1: compared byte for byte, so any value has a definite length.
  return (token) => {
    if (token === undefined) return false;
    const given = Buffer.from(token, 'latin1');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
}

function pageFor(resolution: Exclude<Resolution, { kind: 'target' }>): Page {
  return resolution.kind === 'crash_loop' ? crashLoopPage(resolution.appName) : noInstancePage(resolution.appName);
}

function sendPage(res: ServerResponse, page: Page, requestId: string): void {
  res.writeHead(page.status, ['Content-Type', page.contentType, 'Content-Length', String(page.body.length), 'X-Request-Id', requestId, ...page.headers]);
  res.end(page.body);
}

function forwardedHeaders(head: RequestHead, req: IncomingMessage, requestId: string, upgrade: boolean, fromFront: boolean): string[] {
  const headers = head.headers;
  let client = req.socket.remoteAddress ?? '';
  if (client.startsWith('::ffff:')) client = client.slice(7);
  headers.push(
    'X-Forwarded-For',
    head.forwardedFor === undefined ? client : fromFront ? head.forwardedFor : `${head.forwardedFor}, ${client}`,
    'X-Forwarded-Proto',
    'http',
    'X-Forwarded-Host',
    head.host ?? '',
    'X-Request-Id',
    requestId,
  );
  // Transfer-Encoding is hop-by-hop, but the body still needs framing on our hop: for an upgrade
  // node:http re-chunks it when told; undici chunks a body of unknown length by itself.
  if (head.chunked && upgrade) headers.push('Transfer-Encoding', 'chunked');
  return headers;
}


function send(ex: Exchange): void {
  ex.router.upstream.dispatch(
    {
      origin: `http://${INSTANCE_HOST}:${ex.port}`,
      method: ex.req.method ?? 'GET',
      path: originForm(ex.req.url ?? '/'),
      headers: ex.upstreamHeaders,
      body: ex.bodyless ? null : ex.req,
    },
    ex,
  );
}

/** Undici's dispatch handler, on the exchange itself: no closures, no streams in between. */
function onConnect(this: Exchange, abort: (err?: Error) => void): void {
  this.abort = abort;
}

function onHeaders(this: Exchange, status: number, raw: Buffer[], resume: () => void, statusText: string): boolean {
  // 1xx: the server answered 100-continue to the client itself; nothing else informational is relayed.
  if (status < 200) return true;
  this.responded = true;
  const res = this.res;
  if (res.destroyed) {
    this.abort?.();
    return false;
  }
  const rawHeaders: string[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) rawHeaders[i] = raw[i]!.toString('latin1');
  const { headers, eventStream } = responseHead(rawHeaders, this.requestId);
  try {
    res.writeHead(status, statusText || undefined, headers);
  } catch {
    this.abort?.();
    badGateway(this);
    return false;
  }
  // Event streams: the client sees the headers before the first event.
  if (eventStream) res.flushHeaders();
  this.resume = resume;
  return true;
}

/** false pauses the instance's socket until the client drains. */
function onData(this: Exchange, chunk: Buffer): boolean {
  const res = this.res;
  if (res.write(chunk) || res.destroyed) return true;
  res.once('drain', resumeUpstream);
  return false;
}

function resumeUpstream(this: Tagged<ServerResponse>): void {
  this[kExchange]!.resume?.();
}

function onComplete(this: Exchange): void {
  this.completed = true;
  this.res.end();
}

function onError(this: Exchange, err: NodeJS.ErrnoException): void {
  this.completed = true;
  if (this.port === null || this.res.destroyed) return;
  // The instance went away mid-body: the client must not mistake the truncated body for a whole one.
  if (this.responded) {
    this.res.destroy();
    return;
  }
  if (retryable(this, err)) {
    const failed = this.port;
    this.retried = true;
    this.abort = null;
    const next = this.router.table.resolve(this.route.appName, this.route.deploymentPrefix, failed);
    this.router.table.end(failed);
    this.port = null;
    if (next.kind === 'target') {
      this.router.table.begin(next.port);
      this.port = next.port;
      this.completed = false;
      send(this);
      return;
    }
    sendPage(this.res, pageFor(next), this.requestId);
    return;
  }
  badGateway(this);
}

/**
 * Refused: the instance just died, nothing reached it. Reset on a reused keep-alive socket: the
 * instance closed it as we sent. Either way safe to send again if there is no body to replay.
 */
function retryable(ex: Exchange, err: NodeJS.ErrnoException): boolean {
  if (ex.retried || !ex.bodyless) return false;
  if (err.code === 'ECONNREFUSED') return true;
  // A reset may come after the instance acted on the request: only safe methods are sent twice.
  return RESET_CODES.has(err.code ?? '') && RETRY_SAFE_METHODS.has(ex.req.method ?? '');
}

function badGateway(ex: Exchange): void {
  if (ex.res.headersSent) ex.res.destroy();
  else sendPage(ex.res, noInstancePage(ex.route.appName), ex.requestId);
}

/** Every proxied request ends here once (finished, aborted, failed): stop the upstream, end the count. */
function onClientClose(this: Tagged<ServerResponse>): void {
  const ex = this[kExchange]!;
  if (!this.writableFinished && !ex.completed) ex.abort?.();
  if (ex.port !== null) {
    ex.router.table.end(ex.port);
    ex.port = null;
  }
}

const CLIENT_ERROR_RESPONSES: Record<string, string> = {
  HPE_HEADER_OVERFLOW: 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
  ERR_HTTP_REQUEST_TIMEOUT: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
};
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

const kRejected = Symbol('rejected');
/** A client sending a rejected head gets this long to read the answer before its connection is cut. */
const LINGER_MS = 1_000;

/**
 * Malformed or oversized requests, slow heads: answer if the connection is between responses,
 * then drop it. A rejected head may still be arriving: closing our side first and cutting the
 * connection a moment later lets the client read the answer instead of a reset.
 */
Object.assign(Exchange.prototype, { onConnect, onHeaders, onData, onComplete, onError });

function onClientError(err: NodeJS.ErrnoException, socket: Socket & { [kRejected]?: true; _httpMessage?: unknown }): void {
  if (socket[kRejected]) return;
  socket[kRejected] = true;
  if (err.code === 'ECONNRESET' || !socket.writable || socket._httpMessage) {
    socket.destroy();
    return;
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    socket.write(CLIENT_ERROR_RESPONSES[err.code]!);
    socket.destroy();
    return;
  }
  socket.end(CLIENT_ERROR_RESPONSES[err.code ?? ''] ?? BAD_REQUEST);
  setTimeout(destroySocket, LINGER_MS, socket).unref();
}

function destroySocket(socket: Socket): void {
  socket.destroy();
}
