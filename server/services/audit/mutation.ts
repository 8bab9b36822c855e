import type { Actor } from '../../auth/roles';
import type { AuditNote, Services } from '../context';
import { recordAudit } from './record';

/** Input fields that name what a mutation acts on, most specific first. */
const TARGET_FIELDS = ['app_name', 'name', 'id', 'digest'] as const;
/** A name or id, not free text: anything else is not worth guessing from. */
const TARGET_RE = /^[A-Za-z0-9._:@()+ -]{1,200}$/;

/**
 * What a mutation acted on when its service did not say: the first naming field of its raw
 * input (it may have failed validation, so only a short, name-like string counts).
 */
export function targetFromInput(input: unknown): string | null {
  if (!input || typeof input !== 'object') return null;
  for (const field of TARGET_FIELDS) {
    const value = (input as Record<string, unknown>)[field];
    if (typeof value === 'string' && TARGET_RE.test(value)) return value;
  }
  return null;
}

export interface MutationOutcome {
  actor: Actor;
  /** The procedure path, e.g. `apps.create`. */
  action: string;
  /** `ok`, or the error code the caller got. */
  outcome: string;
  requestId: string;
  note: AuditNote;
  rawInput: unknown;
}

/** The one audit record of a tRPC mutation: the note its service filled, else a guess from the input. */
export function recordMutation(services: Pick<Services, 'db' | 'log'>, m: MutationOutcome): Promise<void> {
  return recordAudit(services, {
    actor: { name: m.actor.name, role: m.actor.role, tokenId: m.actor.tokenId },
    action: m.action,
    outcome: m.outcome,
    team: m.note.team ?? null,
    target: m.note.target ?? targetFromInput(m.rawInput),
    requestId: m.requestId,
    detail: m.note.detail,
  });
}
