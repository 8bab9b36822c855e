/**
 * The router's cost per request: `wrk -t2 -c32 -d10s --latency` straight at a trivial node:http
 * app, then at the same app through the router (standalone.ts, its own process) with the app's
 * Host header: as the control plane runs it (AETHER_ROUTER_ENGINE=auto: HAProxy in front when
 * installed), and the Node.js router alone. Both servers and wrk are separate processes, measured in the same run.
 * For reference, the same load through two bare proxies (nothing else): node:http's client
 * (http.request + pipe) and undici's dispatcher, which the router uses: the floor for its cost. Each row also shows the CPU time the server
 * processes spent per request (from /proc), which a busy machine disturbs less than req/s.
 * Direct and routed run as 3 alternating pairs; the pair with the median ratio is printed.
 * Targets (printed, never failing the process): through the router >= 0.6x the app's req/s
 * (goal 0.8x), p99 within +5 ms. When `haproxy` is installed (Debian's package), a last row runs
 * the same load through it (host map, X-Forwarded-For, keep-alive to the app): what a native
 * proxy costs on this machine, the reference for any Node.js router's cost.
 *
 *   npx tsx tests/bench/router.bench.ts     (BENCH_SECS to change the duration, 10 by default)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { runWrk, WRK, type WrkSummary } from '../support/wrk';

const SECS = Number(process.env.BENCH_SECS ?? 10);
const ROUNDS = 3;
const APP = 'bench-app';
const root = path.resolve(import.meta.dirname, '../..');
const TRIVIAL_APP = `
const http = require('node:http');
const body = Buffer.from('hello from the app\\n');
http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
  res.end(body);
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
`;
const BARE_PROXY = `
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const upstream = Number(process.env.UPSTREAM);
http.createServer((req, res) => {
  const up = http.request({ agent, host: '127.0.0.1', port: upstream, method: req.method, path: req.url, headers: req.rawHeaders }, (r) => {
    res.writeHead(r.statusCode, r.rawHeaders);
    r.pipe(res);
  });
  up.on('error', () => res.destroy());
  req.pipe(up);
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
`;
const BARE_UNDICI_PROXY = `
const http = require('node:http');
const { Pool } = require('undici');
const pool = new Pool('http://127.0.0.1:' + process.env.UPSTREAM, { pipelining: 1 });
http.createServer((req, res) => {
  let resume;
  pool.dispatch({ method: req.method, path: req.url, headers: req.rawHeaders, body: req.headers['content-length'] || req.headers['transfer-encoding'] ? req : null }, {
    onConnect() {},
    onHeaders(status, raw, r) {
      resume = r;
      res.writeHead(status, raw.map((b) => b.toString('latin1')));
      return true;
    },
    onData(chunk) {
      if (res.write(chunk)) return true;
      res.once('drain', () => resume());
      return false;
    },
    onComplete() { res.end(); },
    onError() { res.destroy(); },
  });
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
`;
/** A minimal host-routing HAProxy config: one frontend, one backend, keep-alive both ways. */
const haproxyConfig = (port: number, upstream: number, host: string) => `
global
  maxconn 4096
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-request 10s
frontend router
  bind 127.0.0.1:${port}
  option forwardfor
  http-request set-header X-Forwarded-Proto http
  use_backend app if { req.hdr(host),field(1,:),lower -m str ${host} }
  default_backend unknown
backend unknown
  http-request return status 404
backend app
  http-reuse always
  server instance 127.0.0.1:${upstream}
`;
const TICKS_PER_SEC = 100;

/** User + system CPU time of a process so far, in ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SEC;
}

/** wrk for SECS, with the CPU the given server processes used per request meanwhile. */
async function measure(port: number, host: string, pids: number[]): Promise<WrkSummary & { cpuUsPerReq: number }> {
  const before = pids.map(cpuMs);
  const summary = await runWrk(`http://127.0.0.1:${port}/`, host, SECS);
  const used = pids.reduce((sum, pid, i) => sum + cpuMs(pid) - before[i]!, 0);
  return { ...summary, cpuUsPerReq: summary.requests ? (used * 1000) / summary.requests : NaN };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on the port. */
async function accepting(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), resolve(true))).once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** HAProxy in the foreground on `port`, or null when it is not installed. */
async function startHaproxy(port: number, upstream: number, host: string): Promise<ChildProcess | null> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aether-bench-haproxy-'));
  const cfg = path.join(dir, 'haproxy.cfg');
  writeFileSync(cfg, haproxyConfig(port, upstream, host));
  const child = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  child.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const missing = await new Promise<boolean>((resolve) => {
    child.once('error', () => resolve(true));
    child.once('spawn', () => resolve(false));
  });
  if (missing) return null;
  await accepting(port, child);
  return child;
}

/** A process and its descendants (the router's HAProxy master and worker), from /proc. */
function withDescendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      parentOf.set(Number(name), Number(readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  return tree;
}

/** What each started process printed up to `listening`. */
const banners = new WeakMap<ChildProcess, string>();

/** Starts a process and waits for it to print `listening`. */
function start(args: string[], env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('listening')) return;
      banners.set(child, out);
      resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code} before listening`)));
  });
}

const row = (name: string, s: WrkSummary & { cpuUsPerReq: number }) =>
  `${name.padEnd(22)} ${s.requestsPerSec.toFixed(0).padStart(8)} req/s   p50 ${(s.p50Ms ?? NaN).toFixed(2).padStart(6)} ms   p99 ${(s.p99Ms ?? NaN).toFixed(2).padStart(6)} ms   cpu ${s.cpuUsPerReq.toFixed(0).padStart(4)} us/req   errors ${s.socketErrors}, non-2xx ${s.non2xx}`;

async function main() {
  if (!WRK) throw new Error('wrk is not installed (apt-get install wrk)');
  const appPort = await freePort();
  const routerPort = await freePort();
  const bareProxyPort = await freePort();
  const bareUndiciPort = await freePort();
  const children: ChildProcess[] = [];
  try {
    const app = await start(['-e', TRIVIAL_APP], { PORT: String(appPort) });
    children.push(app);
    const routerProcess = await start(['--import', 'tsx', 'server/runtime/local/router/standalone.ts', '--port', String(routerPort), '--target', `${APP}=${appPort}`]);
    children.push(routerProcess);
    const routerEngine = /\((haproxy|node)\)/.exec(banners.get(routerProcess) ?? '')?.[1] ?? '?';
    const nodeRouterPort = await freePort();
    const nodeRouter = await start(['--import', 'tsx', 'server/runtime/local/router/standalone.ts', '--port', String(nodeRouterPort), '--target', `${APP}=${appPort}`, '--engine', 'node']);
    children.push(nodeRouter);
    const bare = await start(['-e', BARE_PROXY], { PORT: String(bareProxyPort), UPSTREAM: String(appPort) });
    children.push(bare);
    const bareUndici = await start(['-e', BARE_UNDICI_PROXY], { PORT: String(bareUndiciPort), UPSTREAM: String(appPort) });
    children.push(bareUndici);
    const host = `${APP}.localhost`;
    const haproxyPort = await freePort();
    const haproxy = await startHaproxy(haproxyPort, appPort, host);
    if (haproxy) children.push(haproxy);
    // Warm them all (JIT, keep-alive pools) before measuring.
    for (const port of [appPort, routerPort, nodeRouterPort, bareProxyPort, bareUndiciPort, ...(haproxy ? [haproxyPort] : [])]) await runWrk(`http://127.0.0.1:${port}/`, host, 2);
    // Direct and routed alternate, three times, and the middle pair by ratio counts: a shared
    // machine's noise hits both sides of a pair alike.
    const routerPids = [...withDescendants(routerProcess.pid!), app.pid!];
    const pairs: Array<[WrkSummary & { cpuUsPerReq: number }, WrkSummary & { cpuUsPerReq: number }]> = [];
    for (let round = 0; round < ROUNDS; round++) pairs.push([await measure(appPort, host, [app.pid!]), await measure(routerPort, host, routerPids)]);
    pairs.sort((a, b) => a[1].requestsPerSec / a[0].requestsPerSec - b[1].requestsPerSec / b[0].requestsPerSec);
    const [direct, routed] = pairs[Math.floor(ROUNDS / 2)]!;
    const ratios = pairs.map(([d, r]) => (r.requestsPerSec / d.requestsPerSec).toFixed(2));
    const nodeRouted = routerEngine === 'node' ? null : await measure(nodeRouterPort, host, [nodeRouter.pid!, app.pid!]);
    const bareProxied = await measure(bareProxyPort, host, [bare.pid!, app.pid!]);
    const bareUndiciProxied = await measure(bareUndiciPort, host, [bareUndici.pid!, app.pid!]);
    const native = haproxy ? await measure(haproxyPort, host, [haproxy.pid!, app.pid!]) : null;
    const ratio = routed.requestsPerSec / direct.requestsPerSec;
    const p99Delta = (routed.p99Ms ?? NaN) - (direct.p99Ms ?? NaN);
    console.log(`\nrouter: wrk -t2 -c32 -d${SECS}s --latency, trivial node:http app (${process.version}; cpu = app + proxy process time per request)`);
    console.log(row('direct', direct));
    console.log(row(`via router (${routerEngine})`, routed));
    if (nodeRouted) console.log(`${row('via router (node only)', nodeRouted)}   ${(nodeRouted.requestsPerSec / direct.requestsPerSec).toFixed(2)}x`);
    console.log(row('via bare node proxy', bareProxied));
    console.log(row('via bare undici proxy', bareUndiciProxied));
    if (native) console.log(`${row('via bare haproxy', native)}   ${(native.requestsPerSec / direct.requestsPerSec).toFixed(2)}x`);
    else console.log('via bare haproxy: not installed (apt-get install haproxy); the router runs Node.js only');
    console.log(`ratio ${ratio.toFixed(2)}x, the median of ${ROUNDS} alternating pairs (${ratios.join(', ')}) (target >= 0.60x, goal 0.80x) ${ratio >= 0.6 ? 'OK' : 'BELOW TARGET'}`);
    console.log(`p99 delta ${p99Delta >= 0 ? '+' : ''}${p99Delta.toFixed(2)} ms (target <= +5 ms) ${p99Delta <= 5 ? 'OK' : 'ABOVE TARGET'}`);
    if (routed.socketErrors > 0 || routed.non2xx > 0) console.log('via router: FAILED REQUESTS');
  } finally {
    for (const child of children) child.kill('SIGTERM');
  }
}

await main();
