import { ZCleanInput, ZJobRef, ZListJobsInput, ZQueueRef } from '../../services/admin/admin.schemas';
import { cleanQueue, getJobDetail, listJobs, listQueueSummaries, removeJob, retryAllFailed, retryJob, setQueuePaused } from '../../services/admin/queues.service';
import { adminProcedure, createTRPCRouter } from '../init';

/**
 * Job queues, bull-board style: counts per state, jobs per state with search, one job's
 * record (redacted), and the operator's levers. Admin only: job data names every app.
 */
export const adminQueuesRouter = createTRPCRouter({
  list: adminProcedure.query(({ ctx }) => listQueueSummaries(ctx.svc)),
  jobs: adminProcedure.input(ZListJobsInput).query(({ ctx, input }) => listJobs(ctx.svc, input)),
  job: adminProcedure.input(ZJobRef).query(({ ctx, input }) => getJobDetail(ctx.svc, input.queue, input.job_id)),
  retry: adminProcedure.input(ZJobRef).mutation(({ ctx, input }) => retryJob(ctx.svc, input.queue, input.job_id)),
  retryAllFailed: adminProcedure.input(ZQueueRef).mutation(({ ctx, input }) => retryAllFailed(ctx.svc, input.queue)),
  remove: adminProcedure.input(ZJobRef).mutation(({ ctx, input }) => removeJob(ctx.svc, input.queue, input.job_id)),
  clean: adminProcedure.input(ZCleanInput).mutation(({ ctx, input }) => cleanQueue(ctx.svc, input.queue, input.state, input.older_than_secs)),
  pause: adminProcedure.input(ZQueueRef).mutation(({ ctx, input }) => setQueuePaused(ctx.svc, input.queue, true)),
  resume: adminProcedure.input(ZQueueRef).mutation(({ ctx, input }) => setQueuePaused(ctx.svc, input.queue, false)),
});
