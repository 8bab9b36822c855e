/**
 * The local runtime's router over real TCP, in front of node:http backends on 127.0.0.1 that
 * stand in for app instances; the route table is filled by hand as the runtime would.
 * Host parsing, pages, header rewriting and the table itself are unit-tested apart.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RouteTable } from '../../server/runtime/local/router/route-table';
import { createRouter, type Router } from '../../server/runtime/local/router/router';
import { type Backend, deadPort, raw, request, startBackend, startedBackends, targets, until, wsConnect, wsRoundTrip } from '../support/router-backends';

const DEP_A = 'a1b2c3d4-0000-4000-8000-000000000001';
const DEP_B = 'b1b2c3d4-0000-4000-8000-000000000002';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const HEADERS_TIMEOUT_MS = 1_000;
const APPS = ['alpha', 'beta', 'rr', 'stream', 'ws', 'slow', 'retry'];

let table: RouteTable;
let router: Router;
let routerPort: number;
const send = (host: string, opts?: Parameters<typeof request>[2]) => request(routerPort, host, opts);
const sendRaw = (bytes: string, untilMs?: number) => raw(routerPort, bytes, untilMs);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  table = new RouteTable();
  router = createRouter({ table, headersTimeoutMs: HEADERS_TIMEOUT_MS });
  routerPort = (await router.listen(0, '127.0.0.1')).port;
});

afterAll(async () => {
  await router.close();
  await Promise.all(startedBackends.map((b) => b.close()));
});

afterEach(() => {
  for (const app of APPS) table.removeApp(app);
});

describe('closing and listening again', () => {
  it('serves again after close() and a new listen() (workers stopped and started in one process)', async () => {
    const a = await startBackend('again');
    const own = new RouteTable();
    own.setCurrent('again', DEP_A, targets(a));
    const r = createRouter({ table: own });
    const first = (await r.listen(0, '127.0.0.1')).port;
    expect((await request(first, 'again.localhost')).body).toBe('again GET /');
    await r.close();
    const second = (await r.listen(0, '127.0.0.1')).port;
    try {
      expect((await request(second, 'again.localhost')).body).toBe('again GET /');
    } finally {
      await r.close();
    }
  });
});

describe('routing by Host', () => {
  it('sends <app>.localhost to the current release and <prefix>--<app>.localhost to that deployment, any case, with or without a port', async () => {
    const a = await startBackend('a');
    const b = await startBackend('b');
    table.setTargets('alpha', DEP_A, targets(a));
    table.setCurrent('alpha', DEP_B, targets(b));

    expect((await send('alpha.localhost')).body).toBe('b GET /');
    expect((await send(`alpha.localhost:${routerPort}`, { path: '/x?y=1' })).body).toBe('b GET /x?y=1');
    expect((await send('ALPHA.LocalHost:8080')).body).toBe('b GET /');
    expect((await send('a1b2c3d4--alpha.localhost')).body).toBe('a GET /');
    expect((await send(`A1B2C3D4--ALPHA.localhost:${routerPort}`)).body).toBe('a GET /');
    expect((await send('b1b2c3d4--alpha.localhost')).body).toBe('b GET /');
    expect(router.url('alpha')).toBe(`http://alpha.localhost:${routerPort}`);
    expect(router.deploymentUrl('alpha', DEP_A)).toBe(`http://a1b2c3d4--alpha.localhost:${routerPort}`);
    // What a browser does with the URL the runtime hands out.
    expect(await (await fetch(`${router.url('alpha')}/hello`)).text()).toBe('b GET /hello');
  });

  it('balances round robin over 3 ready targets and skips one that is not ready', async () => {
    const bs = [await startBackend('r0'), await startBackend('r1'), await startBackend('r2')];
    table.setCurrent('rr', DEP_A, targets(...bs));
    const names = async (n: number) => {
      const out: string[] = [];
      for (let i = 0; i < n; i++) out.push((await send('rr.localhost')).body.split(' ')[0]!);
      return out;
    };
    const first = await names(6);
    expect(first.slice(0, 3).sort()).toEqual(['r0', 'r1', 'r2']);
    expect(first.slice(3)).toEqual(first.slice(0, 3));

    table.setReady('rr', DEP_A, 'r1', false);
    const without = await names(6);
    expect(without.filter((n) => n === 'r0')).toHaveLength(3);
    expect(without.filter((n) => n === 'r2')).toHaveLength(3);
  });

  it('answers 404 with a small plain page for every host that names no app', async () => {
    const a = await startBackend('a');
    table.setCurrent('alpha', DEP_A, targets(a));
    const hosts = [
      'localhost',
      `localhost:${routerPort}`,
      'alpha.example.com',
      'alpha.localhost.evil.com',
      'alpha.localhostx',
      'x.alpha.localhost',
      '-alpha.localhost',
      'alpha-.localhost',
      'al_pha.localhost',
      '127.0.0.1',
      `127.0.0.1:${routerPort}`,
      '[::1]',
      `${'a'.repeat(64)}.localhost`,
      'alpha.localhost:notaport',
      '',
    ];
    for (const host of hosts) {
      const res = await send(host);
      expect(res.status, host).toBe(404);
      expect(res.headers['content-type'], host).toBe('text/plain; charset=utf-8');
      expect(res.body, host).toBe('No app is served at this address.\n');
    }
    // Without Host: HTTP/1.0 reaches the router (404); HTTP/1.1 is refused by Node's parser (400).
    expect(await sendRaw('GET / HTTP/1.0\r\n\r\n')).toMatch(/^HTTP\/1\.1 404 /);
    expect(await sendRaw('GET / HTTP/1.1\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    expect(a.last).toBeNull();
  });

  it('answers 502 naming the app when nothing ready serves it, and 503 with Retry-After in a crash loop', async () => {
    const none = await send('beta.localhost');
    expect(none.status).toBe(502);
    expect(none.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(none.body).toContain('<code>beta</code>');
    expect(none.body).not.toMatch(/at .*\.ts:\d+/);

    const a = await startBackend('a');
    table.setCurrent('beta', DEP_A, [{ instance: 'a', port: a.port, ready: false }]);
    expect((await send('beta.localhost')).status).toBe(502);

    table.setReady('beta', DEP_A, 'a', true);
    expect((await send('beta.localhost')).status).toBe(200);
    table.setState('beta', 'crash_loop');
    const loop = await send('beta.localhost');
    expect(loop.status).toBe(503);
    expect(loop.headers['retry-after']).toBe('5');
    expect(loop.body).toContain('<code>beta</code>');
    table.setState('beta', 'stopped');
    table.removeDeployment('beta', DEP_A);
    expect((await send('beta.localhost')).status).toBe(502);
  });
});

describe('forwarded headers', () => {
  it('appends X-Forwarded-For, sets Proto and Host, keeps the Host and a well-formed request id, echoing it', async () => {
    const a = await startBackend('a');
    table.setCurrent('alpha', DEP_A, targets(a));
    const res = await send(`Alpha.localhost:${routerPort}`, {
      headers: {
        'x-forwarded-for': '203.0.113.9',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil',
        'x-request-id': 'req-42.a:b_c',
        // Other proxies' claims, made up by the caller: the app must not get them.
        forwarded: 'for=203.0.113.9;proto=https',
        'x-real-ip': '203.0.113.9',
        'x-forwarded-port': '443',
        'x-forwarded-prefix': '/admin',
      },
    });
    const seen = a.last!.headers;
    expect([seen.forwarded, seen['x-real-ip'], seen['x-forwarded-port'], seen['x-forwarded-prefix']]).toEqual([undefined, undefined, undefined, undefined]);
    expect(seen['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-host']).toBe(`Alpha.localhost:${routerPort}`);
    expect(seen.host).toBe(`Alpha.localhost:${routerPort}`);
    expect(seen['x-request-id']).toBe('req-42.a:b_c');
    expect(res.headers['x-request-id']).toBe('req-42.a:b_c');
  });

  it("behind HAProxy, trusts X-Forwarded-For only with the front's secret, and never forwards the secret", async () => {
    const a = await startBackend('front');
    const own = new RouteTable();
    own.setCurrent('alpha', DEP_A, targets(a));
    const secret = 'f'.repeat(32);
    const behind = createRouter({ table: own, frontSecret: secret });
    const behindPort = (await behind.listen(0, '127.0.0.1')).port;
    try {
      const xff = async (token?: string) => {
        await request(behindPort, 'alpha.localhost', { headers: { 'x-forwarded-for': '203.0.113.9', ...(token ? { 'x-aether-front': token } : {}) } });
        expect(a.last!.headers['x-aether-front']).toBeUndefined();
        return a.last!.headers['x-forwarded-for'];
      };
      expect(await xff(secret)).toBe('203.0.113.9');
      // A local process connecting straight to it, without or with a guessed secret, is appended as any peer.
      expect(await xff()).toBe('203.0.113.9, 127.0.0.1');
      expect(await xff('0'.repeat(32))).toBe('203.0.113.9, 127.0.0.1');
      // 32 latin1 characters that are 64 bytes in UTF-8: refused, not a crash.
      expect(await xff('\u00e9'.repeat(32))).toBe('203.0.113.9, 127.0.0.1');
    } finally {
      await behind.close();
    }
  });

  it('mints a request id when there is none or it is malformed, and gives the same one to the app and the client', async () => {
    const a = await startBackend('a');
    table.setCurrent('alpha', DEP_A, targets(a));
    for (const headers of [{}, { 'x-request-id': 'bad id with spaces' }, { 'x-request-id': 'x'.repeat(129) }] as Record<string, string>[]) {
      const res = await send('alpha.localhost', { headers });
      expect(res.headers['x-request-id']).toMatch(UUID_V4);
      expect(a.last!.headers['x-request-id']).toBe(res.headers['x-request-id']);
      expect(a.last!.headers['x-forwarded-for']).toBe('127.0.0.1');
    }
  });

  it('strips hop-by-hop headers both ways, including the ones Connection names, and keeps repeated ones', async () => {
    const a = await startBackend('a', (_req, res) => {
      res.setHeader('Connection', 'keep-alive, x-secret-hop');
      res.setHeader('X-Secret-Hop', '1');
      res.setHeader('Keep-Alive', 'timeout=5');
      res.setHeader('X-Kept', 'yes');
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.setHeader('X-Request-Id', 'from-the-app');
      res.end('ok');
    });
    table.setCurrent('alpha', DEP_A, targets(a));
    const res = await send('alpha.localhost', {
      headers: { connection: 'keep-alive, x-drop-me', 'x-drop-me': '1', 'keep-alive': 'timeout=99', te: 'trailers', 'proxy-connection': 'keep-alive', 'x-keep': '1', 'x-request-id': 'mine' },
    });
    for (const name of ['x-drop-me', 'keep-alive', 'te', 'proxy-connection']) expect(a.last!.headers[name], name).toBeUndefined();
    expect(a.last!.headers['x-keep']).toBe('1');
    expect(res.status).toBe(200);
    expect(res.headers['x-secret-hop']).toBeUndefined();
    expect(res.headers['x-kept']).toBe('yes');
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(res.headers['x-request-id']).toBe('mine');
  });
});

describe('streams', () => {
  it('streams a 24 MB chunked body both ways without changing a byte', async () => {
    const a = await startBackend('a', (req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
    });
    table.setCurrent('stream', DEP_A, targets(a));
    const body = randomBytes(24 * 1024 * 1024);
    const echoed = await new Promise<Buffer>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: routerPort, method: 'POST', path: '/echo', headers: { host: 'stream.localhost' }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      });
      req.on('error', reject);
      // Chunked upload, written in pieces: nothing on the way may wait for the whole body.
      for (let i = 0; i < body.length; i += 1024 * 1024) req.write(body.subarray(i, i + 1024 * 1024));
      req.end();
    });
    expect(echoed.length).toBe(body.length);
    expect(sha256(echoed)).toBe(sha256(body));
  });

  it('delivers each server-sent event as the app writes it, counted in flight until the end', async () => {
    let next: () => void = () => {};
    const a = await startBackend('a', async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      for (let i = 1; i <= 3; i++) {
        await new Promise<void>((r) => (next = r));
        res.write(`data: event ${i}\n\n`);
      }
      res.end();
    });
    table.setCurrent('stream', DEP_A, targets(a));
    const res = await fetch(router.url('stream'));
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    for (let i = 1; i <= 3; i++) {
      // Still streaming: the app has not written the next event, nor ended.
      expect(table.inFlight(a.port)).toBe(1);
      next();
      const { value, done } = await reader.read();
      expect(done).toBe(false);
      expect(Buffer.from(value!).toString()).toBe(`data: event ${i}\n\n`);
    }
    expect((await reader.read()).done).toBe(true);
    await until(() => table.inFlight(a.port) === 0);
  });

  it('keeps an idle event stream open past the pooled-socket and keep-alive timeouts', { timeout: 20_000 }, async () => {
    const a = await startBackend('a', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      setTimeout(() => res.end('data: after 6 s\n\n'), 6000);
    });
    table.setCurrent('stream', DEP_A, targets(a));
    const res = await send('stream.localhost', { path: '/quiet' });
    expect(res.status).toBe(200);
    expect(res.body).toBe('data: first\n\ndata: after 6 s\n\n');
  });
});

describe('WebSocket upgrades', () => {
  it('relays a WebSocket echo in RFC 6455 frames and counts the connection in flight until it closes', async () => {
    const a = await startBackend('a', undefined, { webSocket: true });
    table.setCurrent('ws', DEP_A, targets(a));
    const { socket, res } = await wsConnect(routerPort, 'ws.localhost');
    expect(res.statusCode).toBe(101);
    expect(res.headers['x-request-id']).toMatch(UUID_V4);
    expect(a.last!.headers.host).toBe('ws.localhost');
    expect(await wsRoundTrip(socket, 'hello through the router')).toBe('hello through the router');
    expect(await wsRoundTrip(socket, 'and again')).toBe('and again');
    expect(table.inFlight(a.port)).toBe(1);
    const drained = table.drain([a.port], 5000);
    socket.destroy();
    expect(await drained).toBe(true);
    expect(table.inFlight(a.port)).toBe(0);
  });

  it('relays the plain answer of an instance that does not upgrade', async () => {
    const a = await startBackend('a');
    table.setCurrent('ws', DEP_A, targets(a));
    const out = await sendRaw('GET /ws HTTP/1.1\r\nHost: ws.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
    expect(out.endsWith('\r\n\r\na GET /ws')).toBe(true);
    await until(() => table.inFlight(a.port) === 0);
  });

  it('refuses an upgrade to an unknown host with a 404 and to an app with nothing running with a 502', async () => {
    const unknown = await sendRaw('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    expect(unknown).toMatch(/^HTTP\/1\.1 404 /);
    const none = await sendRaw('GET / HTTP/1.1\r\nHost: ws.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    expect(none).toMatch(/^HTTP\/1\.1 502 /);
    expect(none).toContain('<code>ws</code>');
  });
});

describe('connections to instances', () => {
  it('keeps them alive: 50 sequential requests over one connection', async () => {
    const a = await startBackend('a');
    table.setCurrent('alpha', DEP_A, targets(a));
    for (let i = 0; i < 50; i++) expect((await send('alpha.localhost')).status).toBe(200);
    expect(a.connections).toBe(1);
  });

  it('retries bodyless requests once on another target when an instance is gone: 100 requests, zero failures', async () => {
    const live = await startBackend('live');
    const dead = await deadPort();
    table.setCurrent('retry', DEP_A, [{ instance: 'dead', port: dead, ready: true }, ...targets(live)]);
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) statuses.push((await send('retry.localhost', { method: i % 2 ? 'GET' : 'HEAD' })).status);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(table.inFlight(dead)).toBe(0);
    expect(table.inFlight(live.port)).toBe(0);
  });

  it('retries a GET once when the instance closes a pooled connection as it is reused, never a POST', async () => {
    // Answers the first request of every connection, then drops the connection on the next one:
    // the keep-alive race, made certain.
    let accepted = 0;
    const racy = net.createServer((sock) => {
      accepted++;
      let seen = 0;
      sock.on('error', () => {});
      sock.on('data', () => {
        if (++seen === 1) sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        else sock.resetAndDestroy();
      });
    });
    await new Promise<void>((resolve) => racy.listen(0, '127.0.0.1', resolve));
    const port = (racy.address() as net.AddressInfo).port;
    try {
      table.setCurrent('retry', DEP_A, [{ instance: 'racy', port, ready: true }]);
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await send('retry.localhost')).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200]);
      expect(accepted).toBeGreaterThan(1);
      const post = await send('retry.localhost', { method: 'POST', body: Buffer.from('once only') });
      expect(post.status).toBe(502);
      expect(table.inFlight(port)).toBe(0);
    } finally {
      racy.close();
    }
  });

  it('answers 502 naming the app when the only instance is dead, and never replays a request body elsewhere', async () => {
    const dead = await deadPort();
    table.setCurrent('retry', DEP_A, [{ instance: 'dead', port: dead, ready: true }]);
    for (const method of ['GET', 'POST']) {
      const res = await send('retry.localhost', { method, body: method === 'POST' ? Buffer.from('payload') : undefined });
      expect(res.status, method).toBe(502);
      expect(res.body).toContain('<code>retry</code>');
    }

    const live = await startBackend('live');
    table.setCurrent('retry', DEP_A, [{ instance: 'dead', port: dead, ready: true }, ...targets(live)]);
    const posts: number[] = [];
    for (let i = 0; i < 4; i++) posts.push((await send('retry.localhost', { method: 'POST', body: Buffer.from('payload') })).status);
    // Round robin sends half of them to the dead instance: those fail rather than run twice.
    expect(posts.sort()).toEqual([200, 200, 502, 502]);
    expect(table.inFlight(dead)).toBe(0);
  });
});

describe('in-flight counts and drain', () => {
  it('counts a slow request until it finishes; drain resolves true then, false on a timeout', async () => {
    let finish!: () => void;
    const a = await startBackend('a', (_req, res) => {
      res.writeHead(200);
      res.write('started ');
      finish = () => res.end('done');
    });
    table.setCurrent('slow', DEP_A, targets(a));
    const pending = send('slow.localhost');
    await until(() => table.inFlight(a.port) === 1);
    expect(await table.drain([a.port], 100)).toBe(false);
    const drained = table.drain([a.port], 10_000);
    finish();
    expect((await pending).body).toBe('started done');
    expect(await drained).toBe(true);
    expect(table.inFlight(a.port)).toBe(0);
  });

  it('go back to zero after a success, a client abort mid-response and an instance dying mid-response', async () => {
    let upstreamClosed = false;
    const a = await startBackend('a', (req, res) => {
      if (req.url === '/ok') return void res.end('ok');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first part;');
      res.on('close', () => (upstreamClosed = true));
      if (req.url === '/die') setTimeout(() => req.socket.destroy(), 50);
    });
    table.setCurrent('slow', DEP_A, targets(a));

    expect((await fetch(`${router.url('slow')}/ok`)).status).toBe(200);
    expect(table.inFlight(a.port)).toBe(0);

    // The client goes away mid-response: the router stops the upstream request too.
    const aborting = new AbortController();
    const res = await fetch(`${router.url('slow')}/hang`, { signal: aborting.signal });
    const reader = res.body!.getReader();
    expect(Buffer.from((await reader.read()).value!).toString()).toBe('first part;');
    expect(table.inFlight(a.port)).toBe(1);
    aborting.abort();
    await until(() => table.inFlight(a.port) === 0 && upstreamClosed);

    // A body cut short must reach the client as cut short, never as a complete response.
    const cut = await fetch(`${router.url('slow')}/die`);
    await expect(cut.text()).rejects.toThrow();
    await until(() => table.inFlight(a.port) === 0);
  });
});

describe('hostile input', () => {
  // alpha is the app addressed; beta must never be reached through it.
  let a: Backend;
  let other: Backend;
  beforeAll(async () => {
    a = await startBackend('hostile');
    other = await startBackend('other');
  });
  beforeEach(() => {
    table.setCurrent('alpha', DEP_A, targets(a));
    table.setCurrent('beta', DEP_B, targets(other));
  });
  // Nothing here may leave a count behind.
  afterEach(() => {
    expect(table.inFlight(a.port)).toBe(0);
    a.last = other.last = null;
  });

  it('answers 431 to a 100 KB header', async () => {
    const out = await sendRaw(`GET / HTTP/1.1\r\nHost: alpha.localhost\r\nX-Big: ${'x'.repeat(100 * 1024)}\r\n\r\n`);
    expect(out).toMatch(/^HTTP\/1\.1 431 /);
    expect(a.last).toBeNull();
  });

  it('answers 400 to a request with two Host headers', async () => {
    const connections = a.connections + other.connections;
    const out = await sendRaw('GET / HTTP/1.1\r\nHost: alpha.localhost\r\nHost: beta.localhost\r\nConnection: close\r\n\r\n');
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
    expect(out.endsWith('\r\n\r\nA request must name one host.\n')).toBe(true);
    expect(a.connections + other.connections).toBe(connections);
  });

  it('answers 400 to garbage and a malformed request line, survives a reset, and serves the next request', async () => {
    expect(await sendRaw('\x16\x03\x01garbage\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    expect(await sendRaw('GET / NOT-HTTP\r\nHost: alpha.localhost\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    const s = net.connect(routerPort, '127.0.0.1');
    s.on('error', () => {});
    s.write('GET / HTTP/1.1\r\nHost: alpha.localhost\r\n\r\n');
    s.destroy();
    expect((await send('alpha.localhost')).status).toBe(200);
  });

  it('cuts a dripping slowloris head off after the headers timeout without blocking another app', async () => {
    const started = Date.now();
    const slow = net.connect(routerPort, '127.0.0.1');
    slow.on('error', () => {});
    let answer = '';
    slow.on('data', (d: Buffer) => (answer += d.toString()));
    const closed = new Promise<number>((resolve) => slow.on('close', () => resolve(Date.now())));
    slow.write('GET / HTTP/1.1\r\nHost: alpha.localhost\r\nX-Drip: ');
    // A byte every 100 ms: the timeout covers the whole head, not the gap between bytes.
    const drip = setInterval(() => slow.writable && slow.write('a'), 100);
    try {
      expect((await send('beta.localhost')).status).toBe(200);
      expect(Date.now() - started).toBeLessThan(HEADERS_TIMEOUT_MS - 100);
      const closedAfter = (await closed) - started;
      expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
      expect(closedAfter).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 100);
      expect(closedAfter).toBeLessThan(4 * HEADERS_TIMEOUT_MS);
      expect(a.last).toBeNull();
    } finally {
      clearInterval(drip);
    }
  });

  it('passes a path with .. verbatim to the same app only', async () => {
    const out = await sendRaw('GET /../beta/../../etc/passwd HTTP/1.1\r\nHost: alpha.localhost\r\nConnection: close\r\n\r\n');
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
    expect(out).toContain('hostile GET /../beta/../../etc/passwd');
    expect(other.last).toBeNull();
  });

  it('routes an absolute-form request line by its Host header only, forwarding the path', async () => {
    const out = await sendRaw('GET http://beta.localhost/secret?y=1 HTTP/1.1\r\nHost: alpha.localhost\r\nConnection: close\r\n\r\n');
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
    expect(a.last!.url).toBe('/secret?y=1');
    expect(other.last).toBeNull();
  });
});
