import { createTRPCRouter } from '../init';
import { adminMetricsRouter } from './admin-metrics.router';
import { adminQueuesRouter } from './admin-queues.router';
import { adminTokensRouter } from './admin-tokens.router';

/** Everything only admins may call: `admin.queues.*`, `admin.metrics.*`, `admin.tokens.*`. */
export const adminRouter = createTRPCRouter({
  queues: adminQueuesRouter,
  metrics: adminMetricsRouter,
  tokens: adminTokensRouter,
});
