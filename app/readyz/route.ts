import { sql } from 'drizzle-orm';
import { getServices } from '../../server/boot';
import { refuseOtherMethods } from '../../server/http/method-not-allowed';

export const dynamic = 'force-dynamic';

async function check(fn: () => Promise<unknown>, timeoutMs = 2000): Promise<string> {
  try {
    await Promise.race([fn(), new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), timeoutMs))]);
    return 'ok';
  } catch (err) {
    return err instanceof Error && err.message === 'timeout' ? 'timeout' : 'unavailable';
  }
}

/** Readiness: 200 only when the database and Redis both answer. */
export async function GET() {
  let services;
  try {
    services = await getServices();
  } catch {
    return Response.json({ code: 'service_unavailable', message: 'control plane not initialised' }, { status: 503 });
  }
  const [database, redis] = await Promise.all([
    check(() => services.db.execute(sql`select 1`)),
    check(() => services.queues.ping()),
  ]);
  const ready = database === 'ok' && redis === 'ok';
  return Response.json({ status: ready ? 'ready' : 'not_ready', checks: { database, redis } }, { status: ready ? 200 : 503 });
}

const notAllowed = refuseOtherMethods(['GET', 'HEAD']);
export { notAllowed as POST, notAllowed as PUT, notAllowed as PATCH, notAllowed as DELETE };
