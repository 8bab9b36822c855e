import { getServicesHandle } from './server/boot';
import { startBackground } from './jobs/start';

/**
 * With the embedded defaults (`AETHER_WORKERS=inline`) the web process also migrates the
 * database, restores the apps that should be running and runs the workers: `npm start` is the
 * whole platform. SIGTERM drains the workers before the process exits.
 */
export async function registerNode(): Promise<void> {
  const handle = await getServicesHandle();
  const { services } = handle;
  if (services.env.AETHER_WORKERS !== 'inline') return;
  const workers = await startBackground(services);
  const shutdown = async () => {
    await workers.stop(10_000);
    await handle.close();
  };
  process.once('SIGTERM', () => void shutdown().finally(() => process.exit(0)));
  process.once('SIGINT', () => void shutdown().finally(() => process.exit(0)));
}
