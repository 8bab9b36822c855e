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
  | 'sandbox_unavailable';

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
}

export interface PhaseReport {
  phase: RolloutPhase;
  message: string;
  durationMs: number;
}

export interface RolloutResult {
  /** Where the new instance answers HTTP. */
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
  /** Stops whatever runs for this app (no-op when nothing does). */
  stop(appName: string): Promise<void>;
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
}

export interface LogQuery {
  tail: number;
  follow: boolean;
  /** Only entries written in the last `sinceSecs` seconds. */
  sinceSecs?: number;
  container?: string;
  signal?: AbortSignal;
}

/** How a runtime driver reads artifacts: straight from storage, so no URL can expire on it. */
export type ArtifactSource = (storageKey: string) => Promise<Readable>;
