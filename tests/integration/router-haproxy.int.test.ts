/**
 * The router with HAProxy in front (AETHER_ROUTER_ENGINE=auto/haproxy, the default where
 * haproxy is installed, as `npm test` makes sure): a real HAProxy child process in front of the
 * Node.js router, node:http backends standing in for app instances, the route table filled by
 * hand as the runtime would. What HAProxy serves itself is checked to bypass the Node.js router
 * (its in-flight count stays 0); what it hands over keeps the Node.js router's answers.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findHaproxy } from '../../server/runtime/local/router/haproxy/front';
import { RouteTable } from '../../server/runtime/local/router/route-table';
import { createServingRouter, type ServingRouter } from '../../server/runtime/local/router/serving';
import { type Backend, deadPort, raw, request, startBackend, startedBackends, targets, wsConnect, wsRoundTrip } from '../support/router-backends';
import { startWrk } from '../support/wrk';

const DEP_A = 'a1b2c3d4-0000-4000-8000-000000000001';
const DEP_B = 'b1b2c3d4-0000-4000-8000-000000000002';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let table: RouteTable;
let router: ServingRouter;
let port: number;
const send = (host: string, opts?: Parameters<typeof request>[2]) => request(port, host, opts);
const APPS = ['alpha', 'rr', 'gone', 'slow', 'ws', 'sse', 'flip', 'loop'];

/** Until HAProxy applied the table's last change. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 150));

/** Answers after `ms`, to hold a request in flight. */
const slowly = (ms: number) => (req: http.IncomingMessage, res: http.ServerResponse) => setTimeout(() => res.end(`slow ${req.url}`), ms);

beforeAll(async () => {
  // Not skipped where haproxy is missing: the test setup installs it, and the default engine relies on it.
  expect(findHaproxy(), 'haproxy 2.4+ installed (apt-get install haproxy)').not.toBeNull();
  table = new RouteTable();
  router = createServingRouter({ table, domain: 'localhost', engine: 'haproxy' });
  const listening = await router.listen(0, '127.0.0.1');
  expect(listening.engine).toBe('haproxy');
  port = listening.port;
});

afterAll(async () => {
  await router?.close();
  await Promise.all(startedBackends.map((b) => b.close()));
});

afterEach(async () => {
  for (const app of APPS) table.removeApp(app);
  await settle();
});

describe('served by HAProxy', () => {
  it("sends <app>.localhost to the current release's ready instances, round robin, bypassing the Node.js router", async () => {
    const [a, b, c] = await Promise.all(['r0', 'r1', 'r2'].map((n) => startBackend(n)));
    table.setCurrent('rr', DEP_A, targets(a!, b!, c!));
    await settle();
    const seen = async (n: number) => {
      const out: string[] = [];
      for (let i = 0; i < n; i++) out.push((await send('RR.localhost:8080')).body.split(' ')[0]!);
      return out;
    };
    expect(new Set(await seen(6))).toEqual(new Set(['r0', 'r1', 'r2']));
    table.setReady('rr', DEP_A, 'r1', false);
    await settle();
    expect(new Set(await seen(6))).toEqual(new Set(['r0', 'r2']));
    table.setReady('rr', DEP_A, 'r1', true);
    await settle();
    expect(new Set(await seen(6))).toEqual(new Set(['r0', 'r1', 'r2']));
    expect([a, b, c].map((x) => x!.port).every((p) => table.inFlight(p) === 0)).toBe(true);
  });

  it('sets X-Forwarded-For/Proto/Host, drops callers\' Forwarded and X-Real-IP, keeps a well-formed request id and mints one otherwise', async () => {
    const a = await startBackend('alpha');
    table.setCurrent('alpha', DEP_A, targets(a));
    await settle();
    const kept = await send('alpha.localhost', { headers: { 'x-forwarded-for': '203.0.113.9', forwarded: 'for=evil', 'x-real-ip': '6.6.6.6', 'x-request-id': 'trace-42' } });
    expect(kept.status).toBe(200);
    expect(kept.headers['x-request-id']).toBe('trace-42');
    const h = a.last!.headers;
    expect([h['x-forwarded-for'], h['x-forwarded-proto'], h['x-forwarded-host'], h.host, h['x-request-id']]).toEqual([
      '203.0.113.9, 127.0.0.1',
      'http',
      'alpha.localhost',
      'alpha.localhost',
      'trace-42',
    ]);
    expect([h.forwarded, h['x-real-ip']]).toEqual([undefined, undefined]);
    // Two caller lines are not merged by HAProxy: the Node.js router behind it joins them, client last.
    await send('alpha.localhost', { headers: { 'x-forwarded-for': ['6.6.6.6', '7.7.7.7'] as unknown as string } });
    expect(a.last!.headers['x-forwarded-for']).toBe('6.6.6.6, 7.7.7.7, 127.0.0.1');
    const minted = await send('alpha.localhost', { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(minted.headers['x-request-id']).toMatch(UUID_V4);
    expect(a.last!.headers['x-request-id']).toBe(minted.headers['x-request-id']);
  });

  it('counts a slow request at the front: drain is false while it runs and true once it ended', async () => {
    const a = await startBackend('slow', slowly(800));
    table.setCurrent('slow', DEP_A, targets(a));
    await settle();
    const pending = send('slow.localhost', { path: '/held' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(table.inFlight(a.port)).toBe(0); // not the Node.js router's request
    expect(await table.drain([a.port], 100)).toBe(false);
    expect((await pending).body).toBe('slow /held');
    expect(await table.drain([a.port], 2_000)).toBe(true);
  });

  it('retries a GET on another instance when one is gone, and answers 502 when every one is', async () => {
    const live = await startBackend('alive');
    table.setCurrent('gone', DEP_A, [...targets(live), { instance: 'dead', port: await deadPort(), ready: true }]);
    await settle();
    const answers = await Promise.all(Array.from({ length: 40 }, () => send('gone.localhost')));
    expect(answers.map((r) => r.status)).toEqual(Array(40).fill(200));
    table.setCurrent('gone', DEP_A, [{ instance: 'dead', port: await deadPort(), ready: true }]);
    await settle();
    const dead = await send('gone.localhost', { headers: { 'x-request-id': 'dead-1' } });
    expect([dead.status, dead.headers['x-request-id']]).toEqual([502, 'dead-1']);
    expect(dead.body).toContain('Nothing is running for this app right now.');
  });

  it('relays a WebSocket echo and a server-sent event as the app writes it', async () => {
    const ws = await startBackend('ws', undefined, { webSocket: true });
    table.setCurrent('ws', DEP_A, targets(ws));
    // The app ends its stream only once the client got the first event: buffering would hang here.
    let streaming: http.ServerResponse | null = null;
    const sse = await startBackend('sse', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      streaming = res;
    });
    table.setCurrent('sse', DEP_A, targets(sse));
    await settle();
    const { socket } = await wsConnect(port, 'ws.localhost');
    expect(await wsRoundTrip(socket, 'hello through haproxy')).toBe('hello through haproxy');
    socket.destroy();
    const events: string[] = [];
    await new Promise<void>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, headers: { host: 'sse.localhost' }, agent: false }, (res) => {
        res.on('data', (c: Buffer) => {
          events.push(c.toString());
          if (events.length === 1) streaming!.end('data: second\n\n');
        });
        res.on('end', resolve);
      }).on('error', reject);
    });
    expect(events.join('')).toBe('data: first\n\ndata: second\n\n');
    expect(events[0]).toBe('data: first\n\n');
  });

  it('serves more apps than it has slots after a reload, and never calls a request drained across it', async () => {
    const own = new RouteTable();
    const small = createServingRouter({ table: own, domain: 'localhost', engine: 'haproxy', haproxySlots: 1 });
    const smallPort = (await small.listen(0, '127.0.0.1')).port;
    try {
      const held = await startBackend('held', slowly(2_500));
      own.setCurrent('held', DEP_A, targets(held));
      await settle();
      const pending = request(smallPort, 'held.localhost', { path: '/long' });
      await new Promise((resolve) => setTimeout(resolve, 200));
      // Each new app beyond the slot reloads HAProxy; drain must not mistake the reload for idleness.
      const backends = await Promise.all(['s1', 's2', 's3', 's4'].map((n) => startBackend(n)));
      const drains: boolean[] = [];
      for (const b of backends) {
        own.setCurrent(b.name, DEP_A, targets(b));
        drains.push(await own.drain([held.port], 300));
      }
      expect(drains).toEqual([false, false, false, false]);
      expect((await pending).body).toBe('slow /long');
      expect(await own.drain([held.port], 3_000)).toBe(true);
      for (const b of backends) expect((await request(smallPort, `${b.name}.localhost`)).body).toBe(`${b.name} GET /`);
    } finally {
      await small.close();
    }
  });

  it('refuses to share its port with another HAProxy', async () => {
    const other = createServingRouter({ table: new RouteTable(), domain: 'localhost', engine: 'haproxy' });
    await expect(other.listen(port, '127.0.0.1')).rejects.toThrow(/cannot bind socket|Address already in use/);
    await other.close();
  });
});

describe('handed to the Node.js router', () => {
  it('keeps its answers: 404 for no app, 502 naming an app with nothing ready, 503 in a crash loop, deployment prefixes', async () => {
    expect((await send('nope.example.com')).status).toBe(404);
    expect((await send('alpha.localhost:abc')).status).toBe(404);
    expect(await send('ghost.localhost')).toMatchObject({ status: 502, body: expect.stringContaining('<code>ghost</code>') });
    const a = await startBackend('loop-a');
    const b = await startBackend('loop-b');
    table.setCurrent('loop', DEP_A, targets(a));
    table.setTargets('loop', DEP_B, targets(b));
    table.setState('loop', 'crash_loop');
    await settle();
    const loop = await send('loop.localhost');
    expect([loop.status, loop.headers['retry-after']]).toEqual([503, '5']);
    const prefixed = await send(`${DEP_B.slice(0, 8)}--loop.localhost`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(prefixed.body).toBe('loop-b GET /');
    // HAProxy appended the client; the Node.js router behind it does not append its loopback peer again.
    expect(b.last!.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    table.setState('loop', 'serving');
    await settle();
    expect((await send('loop.localhost')).body).toBe('loop-a GET /');
  });

  it('refuses two different Host headers, a 100 KB header and a slowloris head, and serves another app meanwhile', async () => {
    const a = await startBackend('alpha');
    table.setCurrent('alpha', DEP_A, targets(a));
    await settle();
    expect((await raw(port, 'GET / HTTP/1.1\r\nHost: alpha.localhost\r\nHost: other.localhost\r\n\r\n')).split('\r\n')[0]).toMatch(/^HTTP\/1\.1 400 /);
    expect((await raw(port, `GET / HTTP/1.1\r\nHost: alpha.localhost\r\nX-Big: ${'x'.repeat(100 * 1024)}\r\n\r\n`)).split('\r\n')[0]).toMatch(/^HTTP\/1\.1 (400|431) /);
    const drip = raw(port, 'GET / HTTP/1.1\r\nHost: alpha.localhost\r\nX-Slow: ', 15_000);
    expect((await send('alpha.localhost')).body).toBe('alpha GET /');
    expect((await drip).split('\r\n')[0]).toBe('HTTP/1.1 408 Request Time-out');
  }, 20_000);
});

describe('switching releases under load', () => {
  it('moves 32 connections of wrk from release to release 3 times with no failed request, draining each old one before it stops', async () => {
    let current: Backend = await startBackend('flip-0');
    table.setCurrent('flip', DEP_A, targets(current));
    await settle();
    const load = startWrk(`http://127.0.0.1:${port}/`, 'flip.localhost', { connections: 32 });
    try {
      await new Promise((resolve) => setTimeout(resolve, 700));
      for (let i = 1; i <= 3; i++) {
        const next = await startBackend(`flip-${i}`);
        const deployment = `${i}0000000-0000-4000-8000-00000000000${i}`;
        const old = current;
        table.setCurrent('flip', deployment, targets(next));
        table.removeDeployment('flip', i === 1 ? DEP_A : `${i - 1}0000000-0000-4000-8000-00000000000${i - 1}`);
        // What the runtime does: drain, then stop the old instance.
        expect(await table.drain([old.port], 5_000)).toBe(true);
        await old.close();
        current = next;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    } finally {
      const summary = await load.stop();
      expect(summary.requests).toBeGreaterThan(500);
      expect({ socketErrors: summary.socketErrors, non2xx: summary.non2xx }, summary.output).toEqual({ socketErrors: 0, non2xx: 0 });
    }
  }, 30_000);

  it('stops the HAProxy a killed control plane left on the port before starting its own', async () => {
    const a = await startBackend('alpha');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'aether-haproxy-pid-'));
    const pidFile = path.join(dir, 'router-haproxy.pid');
    const publicPort = await deadPort();
    const previous = spawn(process.execPath, ['--import', 'tsx', 'server/runtime/local/router/standalone.ts', '--engine', 'haproxy', '--port', String(publicPort), '--target', `alpha=${a.port}`, '--pid-file', pidFile], {
      cwd: path.resolve(import.meta.dirname, '../..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) => previous.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve()));
    const orphan = Number(await readFile(pidFile, 'utf8'));
    previous.kill('SIGKILL');
    await new Promise((resolve) => previous.once('exit', resolve));
    // Its HAProxy outlives it, still holding the port.
    expect((await request(publicPort, 'alpha.localhost')).body).toBe('alpha GET /');
    const own = new RouteTable();
    own.setCurrent('alpha', DEP_A, targets(a));
    const next = createServingRouter({ table: own, domain: 'localhost', engine: 'haproxy', haproxyPidFile: pidFile });
    try {
      expect(await next.listen(publicPort, '127.0.0.1')).toEqual({ port: publicPort, engine: 'haproxy' });
      // Gone, or a zombie its new parent has not reaped yet (no command line either way).
      expect(existsSync(`/proc/${orphan}`) ? readFileSync(`/proc/${orphan}/cmdline`, 'utf8') : '').toBe('');
      expect(Number(await readFile(pidFile, 'utf8'))).toBe(next.frontPid());
      expect((await request(publicPort, 'alpha.localhost')).body).toBe('alpha GET /');
    } finally {
      await next.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it('starts HAProxy again when it dies, with every route', async () => {
    const a = await startBackend('alpha');
    table.setCurrent('alpha', DEP_A, targets(a));
    await settle();
    const master = router.frontPid()!;
    expect((await send('alpha.localhost')).body).toBe('alpha GET /');
    process.kill(master, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    let after: string | null = null;
    while (Date.now() < deadline && after === null) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      after = await send('alpha.localhost').then((r) => r.body, () => null);
    }
    expect(after).toBe('alpha GET /');
    expect(router.frontPid()).not.toBe(master);
  }, 20_000);
});
