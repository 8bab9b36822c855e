/**
 * Stand-ins for app instances behind the local router, and clients for what fetch cannot send:
 * any Host header, raw bytes, WebSocket frames. They connect to 127.0.0.1:<router port>.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';

export interface Backend {
  name: string;
  port: number;
  /** Connections the backend accepted: keep-alive reuse shows as few of them. */
  connections: number;
  /** The last request (or upgrade) as the backend saw it; null while nothing reached it. */
  last: { url: string; headers: http.IncomingHttpHeaders } | null;
  server: http.Server;
  close: () => Promise<void>;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, b: Backend) => void;

/** Answers `<name> <method> <url>` in plain text. */
const answerWithName: Handler = (req, res, b) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`${b.name} ${req.method} ${req.url}`);
};

/** Backends started by `startBackend`, for the suite's afterAll. */
export const startedBackends: Backend[] = [];

/** A node:http instance on 127.0.0.1; with `webSocket` it also accepts RFC 6455 upgrades and echoes text frames. */
export async function startBackend(name: string, handler: Handler = answerWithName, opts: { webSocket?: boolean } = {}): Promise<Backend> {
  const server = http.createServer();
  const b: Backend = {
    name,
    port: 0,
    connections: 0,
    last: null,
    server,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  server.on('connection', () => b.connections++);
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    b.last = { url: req.url ?? '', headers: req.headers };
    handler(req, res, b);
  });
  // Without an 'upgrade' listener Node hands an upgrade request to the handler: an instance that does not upgrade.
  if (opts.webSocket) {
    server.on('upgrade', (req: http.IncomingMessage, socket: Socket) => {
      b.last = { url: req.url ?? '', headers: req.headers };
      wsEchoServer(req, socket);
    });
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  b.port = (server.address() as AddressInfo).port;
  startedBackends.push(b);
  return b;
}

/** A port nothing listens on any more: an instance that just died. */
export async function deadPort(): Promise<number> {
  const b = await startBackend('dead');
  await b.close();
  return b.port;
}

export const targets = (...bs: Backend[]) => bs.map((b) => ({ instance: b.name, port: b.port, ready: true }));

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request with any headers (fetch forbids some) on a fresh connection, body collected. */
export function request(port: number, host: string, opts: { path?: string; method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: opts.path ?? '/', method: opts.method ?? 'GET', headers: { host, ...opts.headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * Writes raw bytes and reads until the router closes (or `untilMs`). The socket stays open for
 * writing: a half-close is taken by Node's server as an abort.
 */
export function raw(port: number, bytes: string, untilMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => socket.destroy(), untilMs);
    socket.on('data', (c: Buffer) => (out += c.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.write(bytes);
  });
}

export async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// A minimal WebSocket (RFC 6455) on both ends: unfragmented text frames under 126 bytes only.

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const wsAccept = (key: string) => createHash('sha1').update(`${key}${WS_GUID}`).digest('base64');

function wsEchoServer(req: http.IncomingMessage, socket: Socket) {
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${wsAccept(String(req.headers['sec-websocket-key']))}\r\n\r\n`);
  socket.on('error', () => {});
  // The client went away: close our side too, as WebSocket servers do.
  socket.on('end', () => socket.end());
  socket.on('data', (frame: Buffer) => {
    const len = frame[1]! & 0x7f;
    const mask = frame.subarray(2, 6);
    const payload = Buffer.from(frame.subarray(6, 6 + len).map((byte, i) => byte ^ mask[i % 4]!));
    socket.write(Buffer.concat([Buffer.from([0x81, len]), payload]));
  });
}

/** Opens a WebSocket through the router; rejects unless the answer is a 101 with the right accept key. */
export function wsConnect(port: number, host: string): Promise<{ socket: Socket; res: http.IncomingMessage }> {
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: '/ws',
      agent: false,
      headers: { host, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': key, 'sec-websocket-version': '13' },
    });
    req.on('upgrade', (res, socket: Socket) => {
      if (res.headers['sec-websocket-accept'] !== wsAccept(key)) reject(new Error('wrong Sec-WebSocket-Accept'));
      else resolve({ socket, res });
    });
    req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
}

/** Sends one masked text frame and resolves with the text of the frame that comes back. */
export function wsRoundTrip(socket: Socket, text: string): Promise<string> {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!))]);
  return new Promise((resolve) => {
    socket.once('data', (reply: Buffer) => resolve(reply.subarray(2, 2 + (reply[1]! & 0x7f)).toString()));
    socket.write(frame);
  });
}
