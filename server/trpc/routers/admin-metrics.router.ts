import { ZMetricsInput } from '../../services/admin/admin.schemas';
import { getMetricsDashboard } from '../../services/admin/metrics.service';
import { adminProcedure, createTRPCRouter } from '../init';

/** The admin dashboard's series, aggregated from what the control plane already records. */
export const adminMetricsRouter = createTRPCRouter({
  dashboard: adminProcedure.input(ZMetricsInput).query(({ ctx, input }) => getMetricsDashboard(ctx.svc, input.range)),
});
