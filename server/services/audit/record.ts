import { auditLog } from '../../../db/schema';
import type { Role } from '../../auth/roles';
import type { Services } from '../context';

/** Who did it, as far as we know: a refused sign-in has no role and no token id. */
export interface AuditActor {
  name: string;
  role: Role | null;
  tokenId: string | null;
}

/** One audit record as services and edges hand it over (see {@link recordAudit}). */
export interface AuditEntry {
  actor: AuditActor;
  /** e.g. `apps.create` (a procedure path) or `auth.signIn`. */
  action: string;
  /** `ok`, or the error code the caller got. */
  outcome: string;
  team?: string | null;
  target?: string | null;
  requestId?: string | null;
  /** Names, ids and counts only: never a value, token or secret. */
  detail?: Record<string, unknown>;
}

/** An actor the audit log can name when the caller is not known: never the presented token. */
export const UNKNOWN_ACTOR: AuditActor = { name: 'unknown', role: null, tokenId: null };

const MAX_TEXT = 200;
const MAX_DETAIL_BYTES = 16 * 1024;
const MAX_LIST = 500;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// Lone surrogates make Postgres refuse the whole jsonb (the record would be lost); control
// characters would reach whoever prints the log in a terminal. Both become U+FFFD.
const UNSAFE_RE = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** `value` cut to MAX_TEXT and made safe to store and print. */
function safeText(value: string): string {
  return value.slice(0, MAX_TEXT).replace(UNSAFE_RE, '\ufffd');
}

function clip(value: string | null | undefined): string | null {
  return value ? safeText(value) : null;
}

type Scalar = string | number | boolean | null;

function scalar(value: unknown): Scalar | undefined {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string') return safeText(value);
  return undefined;
}

/**
 * The detail as stored: scalars, lists of scalars and one level of nesting (`{ set: [...] }`),
 * strings clipped, the whole bounded. What does not fit that shape is dropped, not stringified.
 */
export function boundedDetail(detail: Record<string, unknown> | undefined, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [rawKey, value] of Object.entries(detail ?? {})) {
    const key = safeText(rawKey);
    if (Array.isArray(value)) out[key] = value.slice(0, MAX_LIST).map(scalar).filter((v) => v !== undefined);
    else if (value && typeof value === 'object') {
      if (depth === 0) out[key] = boundedDetail(value as Record<string, unknown>, 1);
    }
    else if (scalar(value) !== undefined) out[key] = scalar(value);
  }
  if (depth === 0 && JSON.stringify(out).length > MAX_DETAIL_BYTES) {
    return { truncated: true, keys: Object.keys(out).slice(0, 50) };
  }
  return out;
}

/**
 * Appends one audit record. Never throws: the change it records already happened, so a
 * failure here must not turn it into an error for the caller. It is logged at error level
 * instead, naming the record but no detail.
 */
export async function recordAudit(services: Pick<Services, 'db' | 'log'>, entry: AuditEntry): Promise<void> {
  try {
    await services.db.insert(auditLog).values({
      actor: clip(entry.actor.name) ?? 'unknown',
      actorRole: entry.actor.role,
      // The column is a uuid; anything else (never expected) would fail the whole record.
      actorTokenId: entry.actor.tokenId && UUID_RE.test(entry.actor.tokenId) ? entry.actor.tokenId : null,
      team: clip(entry.team),
      action: safeText(entry.action),
      target: clip(entry.target),
      requestId: clip(entry.requestId),
      outcome: safeText(entry.outcome),
      detail: boundedDetail(entry.detail),
    });
  } catch (err) {
    // The driver's own message, not drizzle's wrapper: that one repeats the query's parameters.
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    services.log.error('AUDIT RECORD LOST: could not write the audit record of a mutation', {
      action: entry.action,
      outcome: entry.outcome,
      actor: entry.actor.name,
      request_id: entry.requestId ?? null,
      error: cause instanceof Error ? cause.message : String(cause),
    });
  }
}
