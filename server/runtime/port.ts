import type { Readable } from 'node:stream';

/** Phases of a rollout, each recorded as a deployment_events row. */
export const ROLLOUT_PHASES = ['fetch', 'verify', 'unpack', 'start', 'health', 'switch'] as const;
export type RolloutPhase = (typeof ROLLOUT_PHASES)[number];

/** Why a rollout failed, classified so users get a plain-words reason. */
export type RolloutFailureReason =
  | 'fetch_failed'
  | 'digest_mismatch'
  | 'archive_refused'
  | 'crashed_on_start'
  | 'health_check_failed'
  | 'timeout'
  /** Stopped at a resource limit (memory, processes, disk) of its sandbox. */
  | 'limit_exceeded'
  /** The host cannot sandbox apps and policy forbids running them unsandboxed. */
  | 'sandbox_unavailable'
  /** The release's config does not fit where the runtime keeps it (a 1 MiB Kubernetes Secret). */
  | 'config_too_large';

export class RolloutError extends Error {
  constructor(
    readonly reason: RolloutFailureReason,
    message: string,
    /** Last lines of the app's output, when it got that far. */
    readonly outputTail: string[] = [],
  ) {
    super(message);
    this.name = 'RolloutError';
  }
}

export interface RuntimeDeployment {
  deploymentId: string;
  appName: string;
  /** sha256 hex of the artifact bytes; the driver verifies what it fetches against it. */
  digest: string;
  storageKey: string;
  /** Most bytes the release may unpack to (the app's `max_unpacked_bytes`, else AETHER_MAX_UNPACKED_BYTES). */
  maxUnpackedBytes?: number;
  /**
   * The release's config version (immutable): names the Kubernetes Secret that carries `env`.
   */
  configVersionId: string;
  /**
   * The release's config, secrets decrypted: it reaches the app's environment and nothing
   * else. Never log it, put it in an event, an error, a file or a job payload.
   */
  env: Readonly<Record<string, string>>;
  /** The release's settings, defaults applied. */
  settings: ReleaseSettings;
  /**
   * How many instances run the release: the app's scale. 0 (stopped) keeps the release current
   * with nothing running. Absent: 1.
   */
  instances?: number;
}

export interface ReleaseSettings {
  /** Run instead of `npm start`, through `sh -c`; null: `npm start`. */
  startCommand: string | null;
  /** The path health checks GET (local driver and Kubernetes probes). */
  healthPath: string;
  /** How long a new instance has to answer healthy. */
  healthTimeoutMs: number;
  /** How often a running instance's health path is checked after the rollout. Absent: 10 s. */
  healthIntervalMs?: number;
  /** `crash_loop` after this many restarts within `crashLoopWindowMs`. Absent: 5. */
  crashLoopRestarts?: number;
  /** Absent: 5 minutes. */
  crashLoopWindowMs?: number;
}

/** How an app's instances are doing, shown apart from its deployment's status. */
export const APP_HEALTH_STATES = ['healthy', 'degraded', 'restarting', 'crash_loop', 'stopped'] as const;
export type AppHealth = (typeof APP_HEALTH_STATES)[number];

/** A change of an app's health, pushed by the driver that supervises it. */
export interface HealthReport {
  appName: string;
  deploymentId: string;
  health: AppHealth;
  /** Plain words, no config value: "instance 1 exited (code 1); restarting in 2 s". */
  message: string;
  /** The instance it is about, when one instance caused it. */
  instance?: string;
  /** Last lines of the instance's output, when one exited. */
  outputTail?: string[];
}

/** One instance of a running release, as the driver sees it now. */
export interface InstanceStatus {
  /** Local: '0', '1'...; Kubernetes: the pod name. */
  id: string;
  /** Answering its health checks, so in the router (local) or the Service's endpoints (Kubernetes). */
  ready: boolean;
  restarts: number;
}

export interface RuntimeStatus {
  health: AppHealth;
  instances: InstanceStatus[];
}

export interface PhaseReport {
  phase: RolloutPhase;
  message: string;
  durationMs: number;
}

export interface RolloutResult {
  /** Where the app answers HTTP: its stable address (the local router's, or its Ingress). */
  url: string;
}

export interface RuntimeDriver {
  readonly kind: 'local' | 'kubernetes';
  /**
   * Fetch, verify, unpack and start `d`; resolve once it answers HTTP, then stop the app's
   * previous instance (replace). `onPhase` is awaited after each phase completes.
   * Throws RolloutError; on failure the previous instance keeps running.
   */
  rollout(d: RuntimeDeployment, onPhase: (report: PhaseReport) => Promise<void>): Promise<RolloutResult>;
  /** Stops whatever runs for this app (no-op when nothing does) and forgets it: the app is gone. */
  stop(appName: string): Promise<void>;
  /**
   * Runs `d.instances` instances of `d`, the app's current release: new ones start and join
   * only once healthy, extra ones drain and stop. 0 stops them all, the release staying current.
   */
  scale(d: RuntimeDeployment): Promise<RuntimeStatus>;
  /** Replaces each instance of `d` in turn, a new one healthy before an old one drains: no downtime. */
  restart(d: RuntimeDeployment): Promise<RuntimeStatus>;
  /** Health and instances of the app's release `target` now. */
  status(target: { deploymentId: string; appName: string }): Promise<RuntimeStatus>;
  /**
   * After a control-plane restart: make sure each of these runs, re-adopting a live healthy
   * process or starting it again. Returns the outcome per deployment.
   */
  restore(desired: RuntimeDeployment[]): Promise<Array<{ deploymentId: string; url: string | null; error: string | null }>>;
  /**
   * The output of one deployment, also one that was replaced (as long as the driver still
   * keeps it): the last `tail` entries (only those newer than `sinceSecs` when given), then,
   * with `follow`, new entries as they come until `signal` aborts.
   */
  logs(target: { deploymentId: string; appName: string }, q: LogQuery): AsyncIterable<LogEntry>;
}

/** One line of an app's output. */
export interface LogEntry {
  /** ISO-8601, when the line was written; null when the source kept no time for it. */
  time: string | null;
  /** 'app' on local (`app/stderr` for stderr); '<pod>/<container>' on kubernetes. */
  source: string;
  line: string;
  /** The instance that wrote it: '0', '1'... on local, the pod on kubernetes. */
  instance?: string;
}

export interface LogQuery {
  tail: number;
  follow: boolean;
  /** Only entries written in the last `sinceSecs` seconds. */
  sinceSecs?: number;
  container?: string;
  /** Only this instance's lines. */
  instance?: string;
  signal?: AbortSignal;
}

/** How a runtime driver reads artifacts: straight from storage, so no URL can expire on it. */
export type ArtifactSource = (storageKey: string) => Promise<Readable>;
