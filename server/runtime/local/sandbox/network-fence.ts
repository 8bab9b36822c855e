import { execFile, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { promisify } from 'node:util';
import { findExecutable } from './probe';
import type { UidRange } from './uids';

/** AETHER_APP_NETWORK: `fenced` refuses apps' new connections to this host's own addresses. */
export type AppNetwork = 'fenced' | 'open';

export const FENCE_TABLE = 'aether_apps';

const NFT_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } as unknown as NodeJS.ProcessEnv;
const run = promisify(execFile);

export interface FenceRules {
  uidRange: UidRange;
  /** Local resolvers apps may query on port 53 (see {@link localResolvers}). */
  resolvers: string[];
  table?: string;
}

const METADATA = ['ip daddr 169.254.0.0/16', 'ip6 daddr fd00:ec2::254'];

const isUid = (n: number) => Number.isSafeInteger(n) && n >= 0 && n <= 0xffff_fffe;
const isPort = (n: number) => Number.isSafeInteger(n) && n >= 1 && n <= 65_535;

function tableOf(table = FENCE_TABLE): string {
  if (!/^[a-z][a-z0-9_]{0,31}$/.test(table)) throw new Error(`invalid nftables table name ${JSON.stringify(table)}`);
  return table;
}

/**
 * The whole fence as one nft transaction, idempotent: it creates our table, sets and chain if
 * missing and replaces the chain's rules, but keeps the sets' elements: the own ports that
 * another control-plane process (web or worker) opened, and the uid ranges of every control
 * plane on this host (a range is added, never replaced, so no process unfences another's apps;
 * an old range stays fenced until the table goes). Nothing outside the table is touched.
 */
export function fenceRuleset(r: FenceRules): string {
  const t = tableOf(r.table);
  const { low, high } = r.uidRange;
  if (!isUid(low) || !isUid(high) || low > high) throw new Error(`invalid uid range ${low}-${high}`);
  const dns = r.resolvers.map((ip) => {
    if (!net.isIP(ip)) throw new Error(`invalid resolver address ${JSON.stringify(ip)}`);
    return `\t\t${net.isIPv6(ip) ? 'ip6' : 'ip'} daddr ${ip} meta l4proto { tcp, udp } th dport 53 accept`;
  });
  return [
    `table inet ${t} {`,
    '\tset app_uids {',
    '\t\ttype uid',
    '\t\tflags interval',
    '\t\tauto-merge',
    '\t}',
    '\tset own_ports {',
    '\t\ttype uid . inet_service',
    '\t}',
    '\tchain output {',
    '\t\ttype filter hook output priority filter; policy accept;',
    '\t}',
    '\tchain fenced {',
    '\t}',
    '}',
    `add element inet ${t} app_uids { ${low}-${high} }`,
    `flush chain inet ${t} output`,
    `flush chain inet ${t} fenced`,
    `table inet ${t} {`,
    '\tchain output {',
    // Packets of no socket (the resets and ICMP errors the rejects below send back, time-wait
    // acks) match no uid: they pass, as the connection they answer already did or was refused.
    '\t\tmeta skuid @app_uids jump fenced',
    '\t}',
    '\tchain fenced {',
    // Cloud metadata services (169.254.169.254, AWS's fd00:ec2::254) hand out the host's own
    // credentials to whoever asks: no app is the host.
    ...METADATA.flatMap((daddr) => [`\t\t${daddr} meta l4proto tcp reject with tcp reset`, `\t\t${daddr} reject with icmpx port-unreachable`]),
    // local: 127.0.0.0/8, ::1 and every address of this host's interfaces. Elsewhere, anything
    // goes, replies to remote clients included.
    '\t\tfib daddr type != local accept',
    ...dns,
    '\t\tmeta skuid . tcp dport @own_ports accept',
    // To this host, an app answers only from its own port (health checks, local clients). No
    // `ct state established` accept: an app listening where a host service is not (Postgres's
    // ::1 beside its 127.0.0.1, Redis or the control plane while they restart) would answer
    // root's connections and be sent their passwords and tokens.
    '\t\tmeta skuid . tcp sport @own_ports accept',
    // A reset is ECONNREFUSED at once, as from a closed port: apps fail fast and learn nothing.
    '\t\tmeta l4proto tcp reject with tcp reset',
    '\t\treject with icmpx port-unreachable',
    '\t}',
    '}',
    '',
  ].join('\n');
}

/** Removes our table if it is there (AETHER_APP_NETWORK=open after a fenced run). */
export function removalRuleset(table?: string): string {
  const t = tableOf(table);
  return `table inet ${t} {\n}\ndelete table inet ${t}\n`;
}

function ownPortElement(op: 'add' | 'delete', table: string | undefined, uid: number, port: number): string {
  if (!isUid(uid) || !isPort(port)) throw new Error(`invalid own-port element ${uid} . ${port}`);
  return `${op} element inet ${tableOf(table)} own_ports { ${uid} . ${port} }\n`;
}

// Adding first makes the delete succeed whether or not the element was there.
const ownPortRemoval = (table: string | undefined, uid: number, port: number) =>
  ownPortElement('add', table, uid, port) + ownPortElement('delete', table, uid, port);

/**
 * The nameservers of a resolv.conf that are this host's own addresses (loopback, such as
 * systemd-resolved's 127.0.0.53, or an interface's): only those need a hole in the fence.
 */
export function localResolvers(resolvConf: string, hostAddresses: Set<string>): string[] {
  const found = new Set<string>();
  for (const line of resolvConf.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const ip = m?.[1]?.split('%')[0];
    if (!ip || !net.isIP(ip)) continue;
    const loopback = net.isIPv6(ip) ? ip === '::1' : ip.startsWith('127.');
    if (loopback || hostAddresses.has(ip)) found.add(ip);
  }
  return [...found];
}

/** `uid.port` of every listening TCP socket in this network namespace (/proc/net/tcp{,6}). */
export function listeningSockets(procNetTcp: string[]): Set<string> {
  const found = new Set<string>();
  for (const line of procNetTcp.flatMap((raw) => raw.split('\n').slice(1))) {
    // sl local_address rem_address st ... uid: st 0A is LISTEN; the port is local_address's hex tail.
    const f = line.trim().split(/\s+/);
    if (f[3] === '0A' && f[1] && f[7]) found.add(`${Number(f[7])}.${parseInt(f[1].split(':')[1] ?? '', 16)}`);
  }
  return found;
}

/**
 * Drops own-port elements no socket of their uid listens on (instances that died while no
 * control plane ran to close them, whose port another app could get next), but for a uid with
 * live processes while no socket holds the port. The rollout re-opens its port once healthy.
 */
async function pruneOwnPorts(nft: string, table: string | undefined): Promise<void> {
  const { stdout } = await run(nft, ['-j', 'list', 'set', 'inet', tableOf(table), 'own_ports'], { env: NFT_ENV });
  type Listed = { nftables: Array<{ set?: { elem?: Array<{ concat?: [number, number] }> } }> };
  const sets = (JSON.parse(stdout) as Listed).nftables;
  const elements = sets.flatMap((o) => o.set?.elem ?? []).flatMap((e) => (e.concat ? [e.concat] : []));
  const tcp = await Promise.all(['/proc/net/tcp', '/proc/net/tcp6'].map((f) => readFile(f, 'utf8').catch(() => '')));
  const listening = listeningSockets(tcp);
  const taken = new Set([...listening].map((l) => Number(l.split('.')[1])));
  const alive = await uidsWithProcesses();
  // Kept also: a port nobody holds, of a uid with processes: an instance starting (another
  // control plane's rollout, not listening yet), which answers its health checks from it.
  const stale = elements.filter(
    ([uid, port]) => !listening.has(`${uid}.${port}`) && (taken.has(port) || !alive.has(uid)),
  );
  if (stale.length) await applyNft(nft, stale.map(([uid, port]) => ownPortRemoval(table, uid, port)).join(''));
}

/** The real uids of this host's processes, from /proc. */
async function uidsWithProcesses(): Promise<Set<number>> {
  const pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n));
  const statuses = await Promise.all(pids.map((p) => readFile(`/proc/${p}/status`, 'utf8').catch(() => '')));
  return new Set(statuses.flatMap((s) => /^Uid:\s+(\d+)/m.exec(s)?.[1] ?? []).map(Number));
}

const hostAddresses = () =>
  new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address)));

/** Applies `ruleset` with `nft -f -`: one atomic transaction, no shell. */
export function applyNft(nft: string, ruleset: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(nft, ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'], timeout: 10_000, env: NFT_ENV });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const why = stderr.trim().split('\n')[0];
      if (code === 0) resolve();
      else reject(new Error(`nft failed (${signal ?? `exit ${code}`})${why ? `: ${why}` : ''}`));
    });
    child.stdin.on('error', () => {}); // an nft that exits early: its exit code says why
    child.stdin.end(ruleset);
  });
}

export interface NetworkFence {
  /** Whether app uids' new connections to this host's addresses are refused. */
  active: boolean;
  /** Said loudly at boot when apps can reach the host's services. */
  warning: string | null;
  /** Lets `uid` reach `port` (its instance's own) on this host; re-asserts the whole fence. */
  allowOwnPort(uid: number, port: number): Promise<void>;
  /** Takes that back; a missing element is fine. */
  revokeOwnPort(uid: number, port: number): Promise<void>;
}

export interface FenceOptions {
  network: AppNetwork;
  /** Whether apps run as their own host uids with us as root: the fence matches those uids. */
  appUids: boolean;
  uidRange: UidRange;
  table?: string;
  resolvConf?: string;
  /** The nft binary; default from PATH or the sbin dirs, null when missing. */
  nft?: string | null;
}

const EXPOSED =
  'apps can open connections to every service on this host (Redis, PostgreSQL, the control plane, other apps)';

/** Installs (or, when `open`, removes) the fence; never throws: trouble becomes the warning. */
export async function setUpNetworkFence(o: FenceOptions): Promise<NetworkFence> {
  const nft = o.nft === undefined ? findExecutable('nft') : o.nft;
  const nothing = async () => {};
  const off = (warning: string): NetworkFence => ({
    active: false,
    warning,
    allowOwnPort: nothing,
    revokeOwnPort: nothing,
  });
  if (o.network === 'open') {
    if (o.appUids && nft) await applyNft(nft, removalRuleset(o.table)).catch(() => undefined);
    return off(`AETHER_APP_NETWORK=open: ${EXPOSED}`);
  }
  if (!o.appUids) {
    return off(`no network fence (it needs a root control plane running apps as their own uids): ${EXPOSED}`);
  }
  if (!nft) return off(`no network fence: nft (Debian package nftables) is missing, so ${EXPOSED}`);
  const resolvConf = await readFile(o.resolvConf ?? '/etc/resolv.conf', 'utf8').catch(() => '');
  const resolvers = localResolvers(resolvConf, hostAddresses());
  const ruleset = fenceRuleset({ uidRange: o.uidRange, resolvers, table: o.table });
  const failure = await applyNft(nft, ruleset).then(() => null, (err: Error) => err.message);
  if (failure) return off(`no network fence (${failure}): ${EXPOSED}`);
  await pruneOwnPorts(nft, o.table).catch(() => undefined); // housekeeping: the fence stands either way
  return {
    active: true,
    warning: null,
    allowOwnPort: async (uid, port) => applyNft(nft, ruleset + ownPortElement('add', o.table, uid, port)),
    revokeOwnPort: async (uid, port) => applyNft(nft, ownPortRemoval(o.table, uid, port)),
  };
}
