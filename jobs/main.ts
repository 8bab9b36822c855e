/**
 * `npm run worker`: the BullMQ workers alone, for production setups that run web and worker
 * as separate processes (with DATABASE_URL: PGlite is single-process). It serves its own
 * /healthz and /metrics on AETHER_WORKER_PORT. SIGTERM/SIGINT drain the workers with a
 * timeout, then close pools.
 */
import { getServicesHandle } from '../server/boot';
import { startHealthServer, type WorkerState } from './health-server';
import { startBackground } from './start';

const handle = await getServicesHandle();
let state: WorkerState = 'starting';
const health = await startHealthServer(handle.services, () => state);
handle.services.log.info('worker health server listening', { port: health.port });
// The handlers below are in place before the workers exist: a SIGTERM right after they start
// (a pod deleted while starting) drains them instead of killing the process mid-job.
const starting = startBackground(handle.services);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  state = 'stopping';
  handle.services.log.info('worker shutting down', { signal });
  const workers = await starting;
  await workers.stop(10_000);
  await health.close();
  await handle.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
await starting;
if (!stopping) state = 'running';
