/**
 * How apps are isolated on this machine, strongest first:
 * - `bwrap-uid`: control plane is root; each app gets its own host uid, then a bwrap sandbox;
 * - `uid`: root but no usable bwrap; own uid and limits, no namespaces;
 * - `bwrap`: not root, user namespaces work; same uid as the control plane, but its own pid and
 *   mount namespaces and no environment (it sees neither our /proc nor the data dir);
 * - `none`: apps run as the control plane's user and can read its secrets.
 */
export type SandboxMode = 'bwrap-uid' | 'uid' | 'bwrap' | 'none';

export interface SandboxProbe {
  isRoot: boolean;
  /** Whether `bwrap` exists and could create its namespaces (as the uid apps would run as). */
  bwrapWorks: boolean;
}

export interface SandboxPolicy {
  production: boolean;
  /** AETHER_UNSAFE_SHARED_USER: run apps unsandboxed even in production. */
  unsafeSharedUser: boolean;
}

export interface SandboxDecision {
  mode: SandboxMode;
  /** Said loudly at boot when isolation is partial or missing. */
  warning: string | null;
  /** Set when apps must not run at all: every rollout fails with it. */
  refusal: string | null;
}

const UID_ONLY =
  'bubblewrap (bwrap) is missing or cannot create namespaces: apps run as their own uid with limits, ' +
  'but see every process and the system tree';
const SHARED_UID =
  'the control plane is not root: apps run sandboxed (bwrap) but as its own uid, without per-app uids or cgroup limits';
const UNSAFE =
  'NO APP SANDBOX: not root and no working bubblewrap (bwrap with user namespaces); apps would run as the ' +
  "control plane's user and could read its environment, data dir and secrets";
const REFUSAL =
  'no sandbox is available on this host and NODE_ENV=production: apps are not run (AETHER_UNSAFE_SHARED_USER=true overrides)';

export function decideSandbox(probe: SandboxProbe, policy: SandboxPolicy): SandboxDecision {
  if (probe.isRoot && probe.bwrapWorks) return { mode: 'bwrap-uid', warning: null, refusal: null };
  if (probe.isRoot) return { mode: 'uid', warning: UID_ONLY, refusal: null };
  if (probe.bwrapWorks) return { mode: 'bwrap', warning: SHARED_UID, refusal: null };
  if (policy.production && !policy.unsafeSharedUser) {
    const warning = `${UNSAFE}. Refusing to run apps (NODE_ENV=production); set AETHER_UNSAFE_SHARED_USER=true to accept the risk`;
    return { mode: 'none', warning, refusal: REFUSAL };
  }
  return { mode: 'none', warning: UNSAFE, refusal: null };
}
