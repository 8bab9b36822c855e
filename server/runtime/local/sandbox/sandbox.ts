import { chmod } from 'node:fs/promises';
import { createInstanceCgroup, detectCgroups, procsFilesOf, pruneEmptyGroups, type CgroupHost } from './cgroups';
import { chownTree } from './chown-tree';
import { launchArgv, SANDBOX_APP_DIR, type Launch } from './launch';
import { setUpNetworkFence, type AppNetwork, type NetworkFence } from './network-fence';
import { decideSandbox, type SandboxDecision, type SandboxProbe } from './mode';
import { findExecutable, probeSandbox } from './probe';
import { seccompFilter } from './seccomp';
import { createUidAllocator, uidRangeClashes, type UidRange } from './uids';
import type { WatchedLimits } from './watchdog';

// RLIMIT_NPROC counts the uid's processes and threads across instances, and a switch runs the
// old and the new one side by side: each still has its own pids.max.
const INSTANCES_PER_UID = 2;

/** Per-instance limits and policy; see AETHER_APP_* in server/env.ts. */
export interface SandboxSettings {
  uidRange: UidRange;
  memoryBytes: number;
  pids: number;
  nofile: number;
  cpu: number;
  diskBytes: number;
  /** Size of the app's private /tmp (tmpfs, in memory: also charged to its memory limit). */
  tmpBytes: number;
  production: boolean;
  unsafeSharedUser: boolean;
  /** Whether apps may connect to this host's own services (network-fence.ts). */
  network: AppNetwork;
}

export const DEFAULT_SANDBOX_SETTINGS: SandboxSettings = {
  uidRange: { low: 100_000, high: 165_535 },
  memoryBytes: 512 * 1024 ** 2,
  pids: 256,
  nofile: 4096,
  cpu: 1,
  diskBytes: 1024 ** 3,
  tmpBytes: 64 * 1024 ** 2,
  production: false,
  unsafeSharedUser: false,
  network: 'fenced',
};

/** An instance ready to spawn: how to wrap its command, and what to undo when it stops. */
export interface PreparedInstance {
  uid: number | null;
  cgroups: string[];
  /** HOME and the app dir as the app sees them. */
  home: string | null;
  /** `env`: the driver's own variables; `appEnv`: the whole environment, config included (see launch.ts). */
  wrap(command: string[], env: Record<string, string>, appEnv?: Record<string, string> | null): Launch;
  limits: WatchedLimits;
}

export interface Sandbox {
  decision: SandboxDecision;
  cgroups: CgroupHost | null;
  settings: SandboxSettings;
  network: NetworkFence;
  /** Said loudly at boot: what else on this host holds ids of the apps' uid range. */
  uidWarning: string | null;
  /** Opens (or closes) the fence for the app to its instance's own port; nothing without a fence. */
  ownPort(appName: string, port: number, open: boolean): Promise<void>;
  /**
   * Gives `dir` (unpacked, not yet running) to the app: its uid, its cgroups. `traversable`
   * are the dirs above it that a uid-only app (no bwrap to bind it) must be able to pass.
   */
  prepare(appName: string, deploymentId: string, dir: string, traversable: string[]): Promise<PreparedInstance>;
}

/** `probe` measures what the host allows (by default by running bwrap once). */
export async function createSandbox(stateDir: string, settings: SandboxSettings, probe: (uid: number) => SandboxProbe = probeSandbox): Promise<Sandbox> {
  const decision = decideSandbox(probe(settings.uidRange.low), settings);
  const rootMode = decision.mode === 'bwrap-uid' || decision.mode === 'uid';
  // Only root can make groups here (no delegation on these machines): rlimits otherwise.
  const cgroups = rootMode ? await detectCgroups() : null;
  if (cgroups) void pruneEmptyGroups(cgroups).catch(() => undefined);
  const uids = createUidAllocator(stateDir, settings.uidRange);
  const tools = {
    bash: findExecutable('bash'),
    bwrap: findExecutable('bwrap'),
    setpriv: findExecutable('setpriv'),
    prlimit: findExecutable('prlimit'),
  };
  const seccomp = seccompFilter();

  async function prepare(appName: string, deploymentId: string, dir: string, traversable: string[]): Promise<PreparedInstance> {
    const uid = rootMode ? await uids.uidOf(appName) : null;
    if (uid !== null) await chownTree(dir, uid, uid);
    if (decision.mode === 'uid') for (const d of traversable) await chmod(d, 0o711);
    const groups = cgroups ? await createInstanceCgroup(cgroups, `${appName}_${deploymentId}`, settings) : [];
    const sandboxed = decision.mode === 'bwrap-uid' || decision.mode === 'bwrap';
    return {
      uid,
      cgroups: groups,
      // uid mode: the control plane's HOME is not the app's to write; its own dir is.
      home: sandboxed ? '/tmp' : uid !== null ? dir : null,
      wrap: (command, env, appEnv) =>
        launchArgv({
          mode: decision.mode,
          ...tools,
          uid,
          appDir: dir,
          cgroupProcs: procsFilesOf(groups),
          nofile: settings.nofile,
          fsizeBytes: settings.diskBytes,
          nproc: settings.pids * INSTANCES_PER_UID,
          tmpBytes: settings.tmpBytes,
          seccomp,
          env,
          appEnv,
          command,
        }),
      limits: { cgroups: groups, appDir: dir, memoryBytes: settings.memoryBytes, pids: settings.pids, diskBytes: settings.diskBytes },
    };
  }

  const network = await setUpNetworkFence({ network: settings.network, appUids: rootMode, uidRange: settings.uidRange });
  async function ownPort(appName: string, port: number, open: boolean): Promise<void> {
    if (!network.active) return;
    const uid = await uids.uidOf(appName);
    await (open ? network.allowOwnPort(uid, port) : network.revokeOwnPort(uid, port));
  }

  const clashes = rootMode ? await uidRangeClashes(settings.uidRange) : [];
  const { low, high } = settings.uidRange;
  const uidWarning = clashes.length
    ? `the apps' uid range ${low}-${high} (AETHER_APP_UID_RANGE) is not theirs alone: ${clashes.join(', ')} ` +
      'would share ids with apps (their files, their processes); choose a free range'
    : null;
  return { decision, cgroups, settings, network, uidWarning, ownPort, prepare };
}

export { SANDBOX_APP_DIR };
