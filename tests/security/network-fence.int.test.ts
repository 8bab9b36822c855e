import { execFile, execFileSync, spawn } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import dgram from 'node:dgram';
import net from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalRuntime } from '../../server/runtime/local.driver';
import type { PhaseReport, RuntimeDeployment, RuntimeDriver } from '../../server/runtime/port';
import { FENCE_TABLE, localResolvers, setUpNetworkFence } from '../../server/runtime/local/sandbox/network-fence';
import { findExecutable } from '../../server/runtime/local/sandbox/probe';
import { freePort } from '../support/control-plane-process';
import { tarGz, writeArtifact } from '../support/artifacts';
import { PG_ADMIN_URL } from '../support/pg';
import { pollUntil } from '../support/poll';
import { TEST_REDIS_URL } from '../support/redis';
import { runtimeDeployment } from '../support/runtime-deployment';

// Real apps under the real sandbox and the real fence (nftables), as root, as on these machines
// and in CI. Every target is an address of this host: nothing here sends traffic elsewhere.

const run = promisify(execFile);
const noPhases = async () => {};
const nft = findExecutable('nft');
const runningAsRoot = process.getuid?.() === 0;

interface Target {
  label: string;
  proto: 'tcp' | 'udp';
  host: string;
  port: number;
}

/**
 * Probes each target once: `connected`, `reply <text>` (udp), `timeout`, or the errno code.
 * The same source runs in the hostile app and, as root, as the control that each target listens.
 */
const probeLib = (targets: Target[]) => String.raw`
const net = require('net');
const dgram = require('dgram');
const TARGETS = ${JSON.stringify(targets)};
const tcp = (t) => new Promise((resolve) => {
  const s = net.connect({ host: t.host, port: t.port });
  const timer = setTimeout(() => { s.destroy(); resolve('timeout'); }, 3000);
  s.once('connect', () => { clearTimeout(timer); s.destroy(); resolve('connected'); });
  s.once('error', (e) => { clearTimeout(timer); resolve(e.code); });
});
const udp = (t) => new Promise((resolve) => {
  const s = dgram.createSocket(net.isIPv6(t.host) ? 'udp6' : 'udp4');
  const done = (v) => { clearTimeout(timer); s.close(); resolve(v); };
  const timer = setTimeout(() => done('timeout'), 3000);
  s.once('error', (e) => done(e.code));
  s.once('message', (m) => done('reply ' + m));
  s.connect(t.port, t.host, () => s.send('ping'));
});
async function probeAll(extra) {
  const r = {};
  for (const t of [...TARGETS, ...extra]) r[t.label] = await (t.proto === 'udp' ? udp(t) : tcp(t));
  return r;
}
`;

/** Serves HTTP on PORT, then probes the targets and its own port and prints `NETREPORT <json>`. */
const hostileSource = (targets: Target[]) => `${probeLib(targets)}
const port = Number(process.env.PORT);
require('http').createServer((q, s) => s.end('hostile')).listen(port, '127.0.0.1', async () => {
  const r = await probeAll([{ label: 'own port', proto: 'tcp', host: '127.0.0.1', port }]);
  console.log('NETREPORT ' + JSON.stringify(r));
});
`;

const tcp = (label: string, host: string, port: number): Target => ({ label, proto: 'tcp', host, port });

/** Runs the probe as `uid` (null: as ourselves, root). */
async function probeAs(uid: number | null, targets: Target[]): Promise<Record<string, string>> {
  const src = `${probeLib(targets)}\nprobeAll([]).then((r) => console.log(JSON.stringify(r)));`;
  const drop = uid === null ? [] : [findExecutable('setpriv')!, `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
  const argv = [...drop, process.execPath, '-e', src];
  const { stdout } = await run(argv[0]!, argv.slice(1), { cwd: '/', timeout: 30_000 });
  return JSON.parse(stdout) as Record<string, string>;
}

/** A TCP server on `host`, port 0, in a node run as `uid` (`handler`: its connection listener's source). Kill `child` when done. */
function listenAs(uid: number, host: string, handler = ''): { child: ReturnType<typeof spawn>; port: Promise<number> } {
  const listen = `require('net').createServer(${handler}).listen(0, '${host}', function () {
    console.log(this.address().port);
  });`;
  const drop = [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, '-e', listen];
  const child = spawn(findExecutable('setpriv')!, drop, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = new Promise<number>((resolve) => child.stdout!.once('data', (b: Buffer) => resolve(Number(String(b)))));
  return { child, port };
}

type NftObject = { set?: { elem?: unknown[] }; table?: { family: string; name: string } };
const nftJson = (...args: string[]) =>
  (JSON.parse(execFileSync(nft!, ['-j', 'list', ...args], { encoding: 'utf8' })) as { nftables: NftObject[] }).nftables;
const elements = (table: string, set: string) => nftJson('set', 'inet', table, set).find((o) => o.set)?.set?.elem ?? [];

/** The (uid, port) elements of a fence table's own-port set, as the kernel holds them. */
const ownPorts = (table = FENCE_TABLE) =>
  (elements(table, 'own_ports') as Array<{ concat: [number, number] }>).map((e) => e.concat);

/** The uid ranges a fence table holds, merged as the kernel keeps them. */
const appUids = (table = FENCE_TABLE) =>
  (elements(table, 'app_uids') as Array<number | { range: [number, number] }>).map(
    (e): [number, number] => (typeof e === 'number' ? [e, e] : e.range),
  );

const hasElement = (uid: number, port: number, table?: string) =>
  ownPorts(table).some(([u, p]) => u === uid && p === port);

// Probes hang up at once: a reset on the listener's side is expected, not an error.
const answer = (s: net.Socket) => s.on('error', () => {}).end('listening');

/** A TCP (or UDP echo) listener on `host`, port chosen by the kernel. */
async function listenTcp(host: string): Promise<net.Server> {
  const server = net.createServer(answer);
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve));
  return server;
}
async function listenUdp(host: string, port = 0): Promise<dgram.Socket> {
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  socket.on('message', (_m, from) => socket.send('pong', from.port, from.address));
  await new Promise<void>((resolve, reject) => socket.once('error', reject).bind(port, host, resolve));
  return socket;
}
const portOf = (s: net.Server | dgram.Socket) => (s.address() as net.AddressInfo).port;

const loopbackV6 = Object.values(networkInterfaces()).some((list) => list?.some((a) => a.address === '::1'));
const hostV4 = Object.values(networkInterfaces())
  .flatMap((list) => list ?? [])
  .find((a) => a.family === 'IPv4' && !a.internal)?.address;

/** host and port of a service URL, which must be on this host. */
function localService(url: string): { host: string; port: number } {
  const u = new URL(url);
  const host = u.hostname === 'localhost' ? '127.0.0.1' : u.hostname.replace(/^\[|\]$/g, '');
  expect(['127.0.0.1', '::1'], `${url} must be on this host`).toContain(host);
  return { host, port: Number(u.port) };
}

describe.runIf(runningAsRoot && nft)('the network fence of local apps', { timeout: 60_000 }, () => {
  let work: string;
  let store: string;
  let dataDir: string;
  let driver: RuntimeDriver;
  const warnings: string[] = [];
  const logged: string[] = [];
  const listeners: Array<net.Server | dgram.Socket> = [];
  const drivers: RuntimeDriver[] = [];
  const apps = new Set<string>();
  let victimPort: number;
  let hostilePort: number;
  let targets: Target[];

  const source = async (key: string) => createReadStream(path.join(store, key));
  const newDriver = () => {
    const log = (m: string, f?: object) => logged.push(`${m} ${JSON.stringify(f)}`);
    const d = createLocalRuntime({ dataDir, source, healthTimeoutMs: 20_000, log, warn: (m) => warnings.push(m) });
    drivers.push(d);
    return d;
  };
  const uidOf = async (app: string) => {
    const file = path.join(dataDir, 'runtime/state/_uids.json');
    return (JSON.parse(await readFile(file, 'utf8')) as Record<string, number>)[app]!;
  };

  async function deployment(appName: string, deploymentId: string, indexJs: string): Promise<RuntimeDeployment> {
    const pkg = { name: appName, version: '1.0.0', scripts: { start: 'node index.js' } };
    const bytes = tarGz({ 'package.json': JSON.stringify(pkg), 'index.js': indexJs });
    const { file, digest } = await writeArtifact(store, bytes);
    apps.add(appName);
    return runtimeDeployment({ appName, deploymentId, digest, storageKey: path.basename(file) });
  }

  async function logText(appName: string, deploymentId: string): Promise<string> {
    const lines: string[] = [];
    for await (const e of driver.logs({ appName, deploymentId }, { tail: 1000, follow: false })) lines.push(e.line);
    return lines.join('\n');
  }

  const webApp = (text: string) =>
    `require('http').createServer((q, s) => s.end(${JSON.stringify(text)})).listen(process.env.PORT, '127.0.0.1');`;
  const portOfUrl = (url: string) => Number(new URL(url).port);

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'aether-fence-'));
    store = path.join(work, 'store');
    dataDir = path.join(work, 'data');
    driver = newDriver();
    // Stand-ins for the control plane's API on each kind of local address, and a UDP service.
    const controlPlane4 = await listenTcp('127.0.0.1');
    const controlPlane6 = loopbackV6 ? await listenTcp('::1') : null;
    const controlPlaneHost = hostV4 ? await listenTcp(hostV4) : null;
    const udpService = await listenUdp('127.0.0.1');
    listeners.push(...[controlPlane4, controlPlane6, controlPlaneHost, udpService].filter((s) => s !== null));
    const victim = await driver.rollout(await deployment('victim', 'victim-1', webApp('victim')), noPhases);
    victimPort = portOfUrl(victim.url!);
    targets = [
      { label: 'redis', proto: 'tcp', ...localService(TEST_REDIS_URL) },
      { label: 'postgres', proto: 'tcp', ...localService(PG_ADMIN_URL) },
      tcp('control plane 127.0.0.1', '127.0.0.1', portOf(controlPlane4)),
      tcp('control plane via 0.0.0.0', '0.0.0.0', portOf(controlPlane4)),
      ...(controlPlane6 ? [tcp('control plane ::1', '::1', portOf(controlPlane6))] : []),
      ...(controlPlaneHost ? [tcp('control plane host address', hostV4!, portOf(controlPlaneHost))] : []),
      tcp('other app', '127.0.0.1', victimPort),
      { label: 'udp service', proto: 'udp', host: '127.0.0.1', port: portOf(udpService) },
    ];
  }, 120_000);

  afterAll(async () => {
    for (const d of drivers) for (const app of apps) await d.stop(app).catch(() => undefined);
    for (const l of listeners) l.close();
    // A stopped app's supervisor may still be writing its last state file: retry the removal.
    await rm(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  });

  it('lets the hostile app reach only its own port on this host, and every target listens for root', async () => {
    const hostile = await driver.rollout(await deployment('hostile', 'hostile-1', hostileSource(targets)), noPhases);
    hostilePort = portOfUrl(hostile.url!);
    const text = await pollUntil(() => logText('hostile', 'hostile-1'), (t) => t.includes('NETREPORT '), 20_000);
    const line = text.split('\n').find((l) => l.startsWith('NETREPORT '));
    expect(line, text).toBeDefined();
    const refused = Object.fromEntries(targets.map((t) => [t.label, 'ECONNREFUSED']));
    expect(JSON.parse(line!.slice('NETREPORT '.length))).toEqual({ ...refused, 'own port': 'connected' });
    // The same probe as root: each refusal above was the fence, not an empty port.
    const expectedForRoot = Object.fromEntries(
      targets.map((t) => [t.label, t.proto === 'udp' ? 'reply pong' : 'connected']),
    );
    expect(await probeAs(null, targets)).toEqual(expectedForRoot);
    expect(warnings.filter((w) => w.includes('network') || w.includes('nft'))).toEqual([]);
  });

  it('leaves the control plane its Redis and PostgreSQL, and the apps their health checks', async () => {
    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
    const sql = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} });
    try {
      expect(await redis.ping()).toBe('PONG');
      expect(await sql`select 1 as one`).toEqual([{ one: 1 }]);
    } finally {
      redis.disconnect();
      await sql.end({ timeout: 5 });
    }
    expect(await (await fetch(`http://127.0.0.1:${victimPort}/`)).text()).toBe('victim');
    expect(await (await fetch(`http://127.0.0.1:${hostilePort}/`)).text()).toBe('hostile');
  });

  it('opens the fence to an own port while the instance runs, closes it when replaced, failed or stopped', async () => {
    const [victimUid, hostileUid] = [await uidOf('victim'), await uidOf('hostile')];
    expect(hasElement(victimUid, victimPort)).toBe(true);
    expect(hasElement(hostileUid, hostilePort)).toBe(true);

    const next = await driver.rollout(await deployment('hostile', 'hostile-2', webApp('hostile 2')), noPhases);
    const nextPort = portOfUrl(next.url!);
    expect([hasElement(hostileUid, hostilePort), hasElement(hostileUid, nextPort)]).toEqual([false, true]);

    // A failed start: open while it starts, closed by the rollout's undo.
    const seen: Array<[number, boolean]> = [];
    const onPhase = async (r: PhaseReport) => {
      const port = /PORT=(\d+)/.exec(r.message)?.[1];
      if (r.phase === 'start' && port) seen.push([Number(port), hasElement(await uidOf('crasher'), Number(port))]);
    };
    const crasher = await deployment('crasher', 'crasher-1', 'process.exit(3)');
    await expect(driver.rollout(crasher, onPhase)).rejects.toThrow('the app exited (code 3)');
    expect(seen.map(([, open]) => open)).toEqual([true]);
    expect(hasElement(await uidOf('crasher'), seen[0]![0])).toBe(false);

    await driver.stop('hostile');
    expect([hasElement(hostileUid, nextPort), hasElement(victimUid, victimPort)]).toEqual([false, true]);
  });

  it('is one table and one rule list after a second control plane starts, keeping the first one\'s ports', async () => {
    const second = newDriver();
    const late = await second.rollout(await deployment('late', 'late-1', webApp('late')), noPhases);
    const ours = nftJson('tables').filter((o) => o.table?.name === FENCE_TABLE);
    expect(ours.map((o) => o.table?.family)).toEqual(['inet']);
    const rulesOf = (chain: string) =>
      execFileSync(nft!, ['list', 'chain', 'inet', FENCE_TABLE, chain], { encoding: 'utf8' })
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !/^(table|chain|type) |^}$/.test(l));
    expect(rulesOf('output')).toEqual(['meta skuid @app_uids jump fenced']);
    const rules = rulesOf('fenced');
    const addresses = new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address)));
    const dns = localResolvers(readFileSync('/etc/resolv.conf', 'utf8'), addresses).map(
      (ip) => `${net.isIPv6(ip) ? 'ip6' : 'ip'} daddr ${ip} meta l4proto { tcp, udp } th dport 53 accept`,
    );
    expect(rules).toEqual([
      'ip daddr 169.254.0.0/16 meta l4proto tcp reject with tcp reset',
      'ip daddr 169.254.0.0/16 reject',
      'ip6 daddr fd00:ec2::254 meta l4proto tcp reject with tcp reset',
      'ip6 daddr fd00:ec2::254 reject',
      'fib daddr type != local accept',
      ...dns,
      'meta skuid . tcp dport @own_ports accept',
      'meta skuid . tcp sport @own_ports accept',
      'meta l4proto tcp reject with tcp reset',
      'reject',
    ]);
    expect(appUids().some(([low, high]) => low <= 100_000 && high >= 165_535)).toBe(true);
    expect(hasElement(await uidOf('victim'), victimPort)).toBe(true);
    expect(hasElement(await uidOf('late'), portOfUrl(late.url!))).toBe(true);
  });

  it('starts an app healthy while other control planes keep booting on this host, each pruning the own ports', async () => {
    // A boot prunes the own ports of uids with no process; the CI once lost every deploy of a
    // run to fault-suite planes booting while an app of another plane started.
    const boots = spawn(process.execPath, ['--import', 'tsx', 'tests/support/fence-boots.ts'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let booted = 0;
    boots.stdout.setEncoding('utf8').on('data', (dots: string) => (booted += dots.length));
    try {
      await pollUntil(async () => booted, (n) => n > 0, 20_000);
      // New apps: a new uid has no process until its instance drops to it, inside bwrap.
      for (const app of ['busy-1', 'busy-2', 'busy-3', 'busy-4', 'busy-5']) {
        const busy = await driver.rollout(await deployment(app, `${app}-1`, webApp(app)), noPhases);
        expect(await (await fetch(busy.url!)).text()).toBe(app);
        expect(hasElement(await uidOf(app), portOfUrl(busy.url!))).toBe(true);
      }
    } finally {
      boots.kill('SIGKILL');
    }
    expect(booted).toBeGreaterThan(3);
  });
});

// The rules themselves, in a table of their own over uids no app gets, so that the apps'
// table (same host, maybe other test files) is left alone.
describe.runIf(runningAsRoot && nft)('the fence rules', { timeout: 60_000 }, () => {
  const table = `aether_fence_test_${process.pid}`;
  const [uid, otherUid] = [99_990, 99_991];
  const resolver = '127.0.0.153';
  const listeners: Array<net.Server | dgram.Socket> = [];
  let work: string;
  let fence: Awaited<ReturnType<typeof setUpNetworkFence>>;
  let dnsTcp: net.Server;
  let other: net.Server;
  let udpService: dgram.Socket;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'aether-fence-rules-'));
    await writeFile(path.join(work, 'resolv.conf'), `nameserver ${resolver}\nnameserver 10.255.255.53\n`);
    const resolvConf = path.join(work, 'resolv.conf');
    const uidRange = { low: uid, high: otherUid };
    fence = await setUpNetworkFence({ network: 'fenced', appUids: true, uidRange, table, resolvConf });
    dnsTcp = net.createServer(answer);
    await new Promise<void>((resolve, reject) => dnsTcp.once('error', reject).listen(53, resolver, resolve));
    other = await listenTcp(resolver);
    udpService = await listenUdp('127.0.0.1');
    listeners.push(dnsTcp, other, await listenUdp(resolver, 53), udpService);
  });

  afterAll(async () => {
    for (const l of listeners) l.close();
    execFileSync(nft!, ['delete', 'table', 'inet', table]);
    await rm(work, { recursive: true, force: true });
  });

  it('lets a fenced uid query the local resolver on port 53, and nothing else of it', async () => {
    expect([fence.active, fence.warning]).toEqual([true, null]);
    const dns: Target[] = [
      { label: 'dns udp', proto: 'udp', host: resolver, port: 53 },
      { label: 'dns tcp', proto: 'tcp', host: resolver, port: 53 },
      { label: 'resolver, other port', proto: 'tcp', host: resolver, port: portOf(other) },
      { label: 'udp service', proto: 'udp', host: '127.0.0.1', port: portOf(udpService) },
    ];
    expect(await probeAs(uid, dns)).toEqual({
      'dns udp': 'reply pong',
      'dns tcp': 'connected',
      'resolver, other port': 'ECONNREFUSED',
      'udp service': 'ECONNREFUSED',
    });
  });

  it('opens a port to its uid only, until revoked; revoking twice is fine', async () => {
    const target: Target[] = [{ label: 'port', proto: 'tcp', host: resolver, port: portOf(other) }];
    await fence.allowOwnPort(uid, portOf(other));
    expect(ownPorts(table)).toEqual([[uid, portOf(other)]]);
    expect(await probeAs(uid, target)).toEqual({ port: 'connected' });
    expect(await probeAs(otherUid, target)).toEqual({ port: 'ECONNREFUSED' });
    await fence.revokeOwnPort(uid, portOf(other));
    await fence.revokeOwnPort(uid, portOf(other));
    expect(ownPorts(table)).toEqual([]);
    expect(await probeAs(uid, target)).toEqual({ port: 'ECONNREFUSED' });
  });

  it('keeps root from reaching what a fenced uid listens on, but its own port', async () => {
    // A hostile app listening where a host service is not (::1 beside a 127.0.0.1 Postgres, a
    // port whose service is restarting): root's connections must not reach it.
    const host = loopbackV6 ? '::1' : resolver;
    const { child, port: listening } = listenAs(uid, host, "(c) => c.end('squatter')");
    try {
      const port = await listening;
      const target: Target[] = [{ label: 'squatter', proto: 'tcp', host, port }];
      expect(await probeAs(null, target)).toEqual({ squatter: 'timeout' });
      await fence.allowOwnPort(uid, port);
      expect(await probeAs(null, target)).toEqual({ squatter: 'connected' });
      await fence.revokeOwnPort(uid, port);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('drops, at start, own ports that no socket of their uid listens on, but a starting instance\'s', async () => {
    const { child, port: listening } = listenAs(uid, '127.0.0.1');
    try {
      const port = await listening;
      await fence.allowOwnPort(uid, port);
      await fence.allowOwnPort(otherUid, port); // a port its uid does not hold
      await fence.allowOwnPort(uid, portOf(other)); // root's listener, not uid's
      // A port no socket holds: kept for a uid with processes (an instance starting), not otherwise.
      const free = await freePort();
      await fence.allowOwnPort(uid, free);
      await fence.allowOwnPort(otherUid, free);
      expect(ownPorts(table).length).toBe(5);
      await setUpNetworkFence({ network: 'fenced', appUids: true, uidRange: { low: uid, high: otherUid }, table });
      const byPort = (a: number[], b: number[]) => a[1]! - b[1]!;
      expect(ownPorts(table).sort(byPort)).toEqual([[uid, port], [uid, free]].sort(byPort));
      await fence.revokeOwnPort(uid, port);
      await fence.revokeOwnPort(uid, free);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('adds the uid range of a control plane configured otherwise, without unfencing the first one\'s', async () => {
    expect(appUids(table)).toEqual([[uid, otherUid]]);
    const uidRange = { low: 99_995, high: 99_996 };
    const again = await setUpNetworkFence({ network: 'fenced', appUids: true, uidRange, table });
    expect([again.active, appUids(table)]).toEqual([true, [[uid, otherUid], [99_995, 99_996]]]);
    const target: Target[] = [{ label: 'port', proto: 'tcp', host: resolver, port: portOf(other) }];
    expect(await probeAs(uid, target)).toEqual({ port: 'ECONNREFUSED' });
    expect(await probeAs(99_995, target)).toEqual({ port: 'ECONNREFUSED' });
  });
});
