/**
 * The contract between the init container's fetch program and the driver: exit codes that
 * classify a failure, and the termination message (written to /dev/termination-log, read back
 * by the driver from the container status) that carries phase durations or the error.
 * Pure: the fetch program bundles this file.
 */

/** Exit codes of `fetch-artifact.mjs`, each mapped to a rollout failure reason. */
export const FETCH_EXIT = {
  ok: 0,
  internal: 1,
  config: 2,
  fetch_failed: 10,
  digest_mismatch: 11,
  archive_refused: 12,
  no_start_command: 13,
} as const;

export type FetchOutcome = keyof typeof FETCH_EXIT;

/** Where Kubernetes reads a container's termination message by default. */
export const TERMINATION_LOG = '/dev/termination-log';
/** Kubernetes keeps at most 4096 bytes of a termination message. */
export const TERMINATION_MESSAGE_MAX = 4096;

export interface FetchPhase {
  phase: 'fetch' | 'verify' | 'unpack';
  ms: number;
  message: string;
}

export type TerminationMessage =
  | { ok: true; phases: FetchPhase[] }
  | { ok: false; outcome: FetchOutcome; message: string };

/** Serialises a termination message, shortening the error text to fit Kubernetes' limit. */
export function encodeTerminationMessage(m: TerminationMessage): string {
  let text = JSON.stringify(m);
  if (m.ok) return text;
  // Shorten by bytes, not characters: JSON escaping and UTF-8 can make one character several.
  for (let keep = m.message.length; Buffer.byteLength(text) > TERMINATION_MESSAGE_MAX; ) {
    keep = Math.floor(keep * 0.8);
    text = JSON.stringify({ ...m, message: `${m.message.slice(0, keep)}...` });
  }
  return text;
}

/** Reads a termination message back; null when it is not ours (logs fallback, truncated). */
export function decodeTerminationMessage(raw: string | undefined | null): TerminationMessage | null {
  if (!raw) return null;
  try {
    const parsed = JSON.parse(raw) as TerminationMessage;
    if (parsed && typeof parsed === 'object' && typeof parsed.ok === 'boolean') return parsed;
  } catch {
    // Not JSON: a crash before the program could write one (Kubernetes falls back to its logs).
  }
  return null;
}

/** The outcome an exit code stands for; unknown codes are internal errors. */
export function outcomeOfExitCode(code: number): FetchOutcome {
  const hit = (Object.entries(FETCH_EXIT) as Array<[FetchOutcome, number]>).find(([, c]) => c === code);
  return hit ? hit[0] : 'internal';
}
