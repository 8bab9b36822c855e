import { ZAuditListInput, ZAuditPage } from '../../contract/audit';
import { listAudit } from '../../services/audit/list.service';
import { createTRPCRouter, readerProcedure } from '../init';

/**
 * The audit log, read-only on every face: records are written by the mutation middleware
 * (../init.ts), and there is deliberately no procedure that changes or removes one.
 */
export const auditRouter = createTRPCRouter({
  list: readerProcedure
    .meta({
      openapi: {
        method: 'GET',
        path: '/audit',
        tags: ['audit'],
        summary: 'Who changed what, newest first: filters and keyset pages; others than admins see their teams only',
        protect: true,
      },
    })
    .input(ZAuditListInput)
    .output(ZAuditPage)
    .query(({ ctx, input }) => listAudit(ctx.svc, input)),
});
