import type { ServerResponse } from 'node:http';
import { sql } from 'drizzle-orm';
import { pendingMigrations } from '../../db/migration-status';
import type { Services } from '../services/context';

/** Longest a readiness check waits on one dependency before calling it down. */
const CHECK_TIMEOUT_MS = 2000;

/** Built once: liveness is the hottest path a load balancer hits. */
const LIVE_BODY = Buffer.from(JSON.stringify({ status: 'ok' }));

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length, 'cache-control': 'no-store' });
  res.end(bytes);
}

/** `/healthz`, liveness: the process answers. Dependencies are /readyz's business. */
export function serveLiveness(res: ServerResponse): void {
  sendJson(res, 200, LIVE_BODY);
}

type Outcome<T> = { ok: true; value: T } | { ok: false; why: 'timeout' | 'unavailable' };

/** `fn`'s answer, or why there is none within CHECK_TIMEOUT_MS: a hung database must not hang the probe. */
async function within<T>(fn: () => Promise<T>): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<Outcome<T>>((resolve) => (timer = setTimeout(() => resolve({ ok: false, why: 'timeout' }), CHECK_TIMEOUT_MS)));
    return await Promise.race([fn().then((value): Outcome<T> => ({ ok: true, value })), timeout]);
  } catch {
    return { ok: false, why: 'unavailable' };
  } finally {
    clearTimeout(timer);
  }
}

async function check(fn: () => Promise<unknown>): Promise<'ok' | 'timeout' | 'unavailable'> {
  const outcome = await within(fn);
  return outcome.ok ? 'ok' : outcome.why;
}

/** `/readyz`: 200 only when the database and Redis both answer; 503 naming the one that does not. */
export async function serveReadiness(services: Services, res: ServerResponse): Promise<void> {
  const [database, redis] = await Promise.all([check(() => services.db.execute(sql`select 1`)), check(() => services.queues.ping())]);
  const ready = database === 'ok' && redis === 'ok';
  sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not_ready', checks: { database, redis } });
}

/**
 * `/startupz` (the seed's): 200 `{status: "ok", pending_migrations: 0}` once this build's
 * migrations are applied, else 503 `{status: "pending"}` with how many are not.
 */
export async function serveStartup(services: Services, res: ServerResponse): Promise<void> {
  const outcome = await within(() => pendingMigrations(services.db));
  if (!outcome.ok) return sendJson(res, 503, { status: 'pending', pending_migrations: null, database: outcome.why });
  const pending = outcome.value;
  sendJson(res, pending === 0 ? 200 : 503, { status: pending === 0 ? 'ok' : 'pending', pending_migrations: pending });
}
