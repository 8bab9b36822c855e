import { CliError, EXIT } from './errors';

/**
 * When and how long the CLI waits for a control plane that answered 503 `service_unavailable`
 * (its database, job queue or object store is down). Pure: the loop is in retry.ts.
 */

export const DEFAULT_RETRY_MAX_SECS = 60;
const BASE_MS = 1_000;
const MAX_BACKOFF_MS = 15_000;
// A Retry-After of minutes would look like a hang; past this we ask again sooner.
const RETRY_AFTER_CAP_MS = 30_000;

/**
 * Mutations that are safe to send again after a 503, each by design, so a retry cannot do a
 * second thing. Every mutation not listed here is sent once: config.change (a replay makes
 * another version), apps.create/update/delete, rollback (a replay rolls back twice), restart,
 * keys.*, teams.*, auth.* (refresh revokes the old token; a device code is one-shot).
 */
export const IDEMPOTENT_MUTATIONS: ReadonlySet<string> = new Set([
  // Presigning again resets the same pending row; a re-init replaces (and aborts) the first upload.
  'artifacts.presign',
  'artifacts.multipartInit',
  'artifacts.multipartPresignPart',
  'artifacts.multipartPresignParts',
  // The CLI sends an idempotency key derived from the digest.
  'artifacts.complete',
  'artifacts.multipartComplete',
  'artifacts.multipartAbort',
  // Joins the deployment in flight for the same release; one whose rollout could not be queued
  // is marked failed, and the server's own advice is "deploy again".
  'deployments.create',
  'config.deploy',
  // Absolute targets, undone by the server when their job cannot be queued.
  'apps.scale',
  'apps.stop',
  'apps.start',
]);

/** True when `path` may be sent again after a 503: every query, and the mutations above. */
export function isIdempotent(type: string, path: string): boolean {
  return type === 'query' || (type === 'mutation' && IDEMPOTENT_MUTATIONS.has(path));
}

/** AETHER_RETRY_MAX_SECS: seconds of waiting one call may spend on retries; 0 turns them off. */
export function readRetryMaxSecs(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return DEFAULT_RETRY_MAX_SECS;
  const secs = Number(raw);
  if (!Number.isFinite(secs) || secs < 0) {
    throw new CliError(EXIT.config, `AETHER_RETRY_MAX_SECS must be a number of seconds (0 or more), not "${raw}"`);
  }
  return secs;
}

/** A Retry-After header (delta-seconds or an HTTP date) in ms; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // An HTTP date names its day and zone; Date.parse alone would read "-3" as a year.
  const at = /GMT$/i.test(trimmed) ? Date.parse(trimmed) : NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export interface RetryState {
  /** Attempts made so far (1 after the first failure). */
  attempt: number;
  /** Since the first attempt started. */
  elapsedMs: number;
  budgetMs: number;
  retryAfterMs?: number;
}

/**
 * How long to wait before the next attempt, or null to give up: the budget is spent. Without
 * Retry-After: exponential backoff with equal jitter (half fixed, half random). With it: never
 * sooner than the server asked (capped), up to 10 % later so clients told alike do not return
 * in lockstep. The last wait is cut to what is left of the budget.
 */
export function nextRetryDelay(s: RetryState, random: () => number = Math.random): number | null {
  const left = s.budgetMs - s.elapsedMs;
  if (left <= 0) return null;
  let wanted: number;
  if (s.retryAfterMs !== undefined) {
    const asked = Math.min(s.retryAfterMs, RETRY_AFTER_CAP_MS);
    wanted = asked + random() * Math.min(asked / 10, 1_000);
  } else {
    const window = Math.min(MAX_BACKOFF_MS, BASE_MS * 2 ** (s.attempt - 1));
    wanted = window / 2 + random() * (window / 2);
  }
  return Math.min(wanted, left);
}

/** "2s", "1m 5s": how a wait is said on the waiting line and in the final error. */
export function formatSecs(ms: number): string {
  if (ms < 950) return `${(ms / 1000).toFixed(1)}s`;
  const secs = Math.round(ms / 1000);
  return secs < 60 ? `${secs}s` : `${Math.floor(secs / 60)}m ${secs % 60}s`;
}
