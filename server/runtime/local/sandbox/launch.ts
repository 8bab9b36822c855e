import { existsSync, lstatSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import type { SandboxMode } from './mode';

/** Where the app's own directory appears inside the sandbox. */
export const SANDBOX_APP_DIR = '/app';
/** The child's fd that bwrap reads its options from (`--args`), the pipe after stdio's three. */
export const BWRAP_ARGS_FD = 3;
/** The child's fd that bwrap reads the seccomp filter from (`--seccomp`), the next pipe. */
export const SECCOMP_FD = 4;
/** The child's fd the app's environment is read from once it runs as the app (see {@link LOAD_ENV}). */
export const ENV_FD = 5;

export interface LaunchSpec {
  mode: SandboxMode;
  /** bash, to close leaked fds (dash cannot name fds above 9); null: /bin/sh, which leaves them. */
  bash?: string | null;
  bwrap: string | null;
  setpriv: string | null;
  prlimit: string | null;
  /** The app's own uid (and gid), in the uid modes. */
  uid: number | null;
  /** The app's directory on the host: its only writable place. */
  appDir: string;
  /** cgroup.procs files the wrapper joins before anything of the app runs. */
  cgroupProcs: string[];
  nofile: number;
  /** RLIMIT_FSIZE: no single file beyond the disk limit, whatever the watchdog's pace. */
  fsizeBytes: number;
  /** RLIMIT_NPROC for the app's uid (its own, so this counts only its processes). */
  nproc: number;
  tmpBytes: number;
  /** The seccomp filter (seccomp.ts) bwrap installs; null: none. */
  seccomp?: Buffer | null;
  /** The driver's own variables (PORT, PATH, HOME...): nothing of the release's config. */
  env: Record<string, string>;
  /**
   * The app's whole environment, the release's config included; null when it is just `env`.
   * It never reaches argv, bwrap's options or a process running as root (see {@link LOAD_ENV}).
   */
  appEnv?: Record<string, string> | null;
  /** The app's command as it runs inside: node and npm's CLI, or `sh -c <start command>`. */
  command: string[];
}

/**
 * System paths the app may read: /usr (where bin, lib and sbin live on merged-/usr systems,
 * else bound one by one) and /etc (resolver, certificates, passwd). Nothing else of the host.
 */
function systemMounts(): string[] {
  const args = ['--ro-bind', '/usr', '/usr', '--ro-bind', '/etc', '/etc'];
  for (const top of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    if (!existsSync(top)) continue;
    if (lstatSync(top).isSymbolicLink()) args.push('--symlink', readlinkSync(top), top);
    else args.push('--ro-bind', top, top);
  }
  return args;
}

/** The node installation (bin/node's parent's parent), when it is not under /usr already. */
function nodeMounts(): string[] {
  const root = path.dirname(path.dirname(realpathSync(process.execPath)));
  return root === '/usr' || root.startsWith('/usr/') ? [] : ['--ro-bind', root, root];
}

/** The uid drop: real, effective and saved ids, no groups, no capabilities, no way back. */
function setprivArgs(spec: LaunchSpec): string[] {
  const uid = String(spec.uid);
  const caps = ['--inh-caps=-all', '--bounding-set=-all'];
  return [spec.setpriv!, `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--no-new-privs', ...caps, '--'];
}

/**
 * As root, bwrap runs privileged and without a user namespace (so no uid inside maps to host
 * root), builds the mounts, then setpriv drops to the app's uid before the app's first
 * instruction. Not root, bwrap makes a user namespace of our one uid and forbids nesting.
 */
function bwrapOptionsOf(spec: LaunchSpec): string[] {
  const env = Object.entries(spec.env).flatMap(([k, v]) => ['--setenv', k, v]);
  const userns = spec.uid === null ? ['--unshare-user', '--disable-userns'] : [];
  return [
    ...userns,
    '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
    '--hostname', 'app',
    ...systemMounts(),
    ...nodeMounts(),
    '--proc', '/proc',
    '--dev', '/dev',
    '--perms', '1777', '--size', String(spec.tmpBytes), '--tmpfs', '/tmp',
    '--bind', spec.appDir, SANDBOX_APP_DIR,
    '--chdir', SANDBOX_APP_DIR,
    ...(spec.seccomp ? ['--seccomp', String(SECCOMP_FD)] : []),
    '--clearenv', ...env,
  ];
}

// Joins the groups first, so nothing of the app ever runs outside its limits, then execs the
// rest in place: the pid we spawned stays the group leader (and its exit the app's).
const JOIN_CGROUPS = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

/**
 * Closes every fd but stdio (and bwrap's options pipe, `keep`): whatever started the control
 * plane (npm, a supervisor, a CI runner) may have handed it fds without close-on-exec, which
 * Node's spawn passes on, down to the app: a pipe to that parent, an open file, a socket.
 */
const closeLeakedFds = (keep: number[]) =>
  `for f in /proc/$$/fd/*; do n=\${f##*/}; case $n in ${[0, 1, 2, ...keep].join('|')}) ;; ` +
  '*) eval "exec $n>&-" 2>/dev/null ;; esac; done; ';

/**
 * Runs as the app, after the uid drop and inside bwrap: reads its environment from ENV_FD,
 * then execs the app with it. The config (secrets) thus never sits on an argv (world-readable
 * /proc/<pid>/cmdline) nor in the environment of the wrappers that run as root before the drop,
 * where LD_PRELOAD, BASH_ENV or GCONV_PATH would run the app's own code as root.
 */
const LOAD_ENV = `env=$(cat <&${ENV_FD}) || exit 125; eval "$env"; exec ${ENV_FD}<&-; exec "$@"`;
const POSIX_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `env` as POSIX shell exports for {@link LOAD_ENV}; `command` keeps a readonly name from ending the shell. */
export function envScript(env: Record<string, string>): Buffer {
  const lines = Object.entries(env).map(([name, value]) => {
    if (!POSIX_NAME_RE.test(name)) throw new Error(`not a POSIX environment variable name: ${JSON.stringify(name)}`);
    if (value.includes('\0')) throw new Error(`environment variable ${name} holds a NUL byte`);
    return `command export ${name}='${value.replaceAll("'", "'\\''")}'\n`;
  });
  return Buffer.from(lines.join(''));
}

export interface Launch {
  argv: string[];
  env: Record<string, string>;
  /** The app's environment as {@link envScript}, to write to the child's {@link ENV_FD}; null: none. */
  envInput: Buffer | null;
  /** bwrap's options, NUL-separated, to write to the child's {@link BWRAP_ARGS_FD}. */
  bwrapOptions: Buffer | null;
  /** The seccomp filter, to write to the child's {@link SECCOMP_FD} (only with bwrapOptions). */
  seccomp: Buffer | null;
}

/**
 * argv (with its env) that runs `spec.command` as the mode says. bwrap's options go through a
 * pipe, not argv: its command line is the sandbox's /proc/1/cmdline, readable by the app, and
 * would show host paths (the data dir's) and the mounts.
 */
export function launchArgv(spec: LaunchSpec): Launch {
  // Unsandboxed, the app is the control plane's own user: nothing to keep its environment from.
  if (spec.mode === 'none') return { argv: spec.command, env: spec.appEnv ?? spec.env, envInput: null, bwrapOptions: null, seccomp: null };
  const drop = spec.uid === null ? [] : setprivArgs(spec);
  const uidOnly = spec.mode === 'uid';
  const bwrap = [spec.bwrap!, '--args', String(BWRAP_ARGS_FD), '--'];
  const envInput = spec.appEnv ? envScript(spec.appEnv) : null;
  const command = envInput ? ['/bin/sh', '-c', LOAD_ENV, 'aether-env', ...spec.command] : spec.command;
  const inner = uidOnly ? [...drop, ...command] : [...bwrap, ...drop, ...command];
  const bwrapOptions = uidOnly ? null : Buffer.from(bwrapOptionsOf(spec).map((a) => `${a}\0`).join(''));
  const limits = [`--nofile=${spec.nofile}:${spec.nofile}`, `--fsize=${spec.fsizeBytes}:${spec.fsizeBytes}`];
  // Its own uid: RLIMIT_NPROC then counts only its processes (a second fork-bomb bound).
  if (spec.uid !== null) limits.push(`--nproc=${spec.nproc}:${spec.nproc}`);
  const argv = [spec.prlimit!, ...limits, '--', ...inner];
  const seccomp = uidOnly ? null : (spec.seccomp ?? null);
  const keep = [...(bwrapOptions ? [BWRAP_ARGS_FD] : []), ...(seccomp ? [SECCOMP_FD] : []), ...(envInput ? [ENV_FD] : [])];
  const script = spec.bash ? closeLeakedFds(keep) + JOIN_CGROUPS : JOIN_CGROUPS;
  const joined = [spec.bash ?? '/bin/sh', '-c', script, 'aether-join', ...spec.cgroupProcs, '--', ...argv];
  // bwrap sets the driver's variables itself; the wrappers before it get only PATH.
  return { argv: joined, env: uidOnly ? spec.env : { PATH: '/usr/bin:/bin' }, envInput, bwrapOptions, seccomp };
}
