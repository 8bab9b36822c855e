import type { AuditNote, ServiceCtx } from '../context';

/** Adds to the audit record of the mutation in progress; a no-op outside a mutation. */
export function noteAudit(ctx: Pick<ServiceCtx, 'audit'>, note: AuditNote): void {
  if (!ctx.audit) return;
  if (note.team !== undefined) ctx.audit.team = note.team;
  if (note.target !== undefined) ctx.audit.target = note.target;
  if (note.detail) ctx.audit.detail = { ...ctx.audit.detail, ...note.detail };
}
