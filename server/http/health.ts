import type { ServerResponse } from 'node:http';
import { sql } from 'drizzle-orm';
import { pendingMigrations } from '../../db/migration-status';
import type { Services } from '../services/context';
import { retryAfterFor } from './envelope';

/** Longest a readiness check waits on one dependency before calling it down. */
const CHECK_TIMEOUT_MS = 2000;

/** Built once: liveness is the hottest path a load balancer hits. */
const LIVE_BODY = Buffer.from(JSON.stringify({ status: 'ok' }));

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length, 'cache-control': 'no-store', ...headers });
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

/** A key no artifact has: its HEAD answers "absent" from a store that is up, and throws from one that is not. */
const STORAGE_PROBE_KEY = 'readyz/probe';

/**
 * `/readyz`: 200 only when the database, Redis and object storage all answer; 503 naming the
 * ones that do not (`down`: the dependencies a client is waiting for).
 */
export async function serveReadiness(services: Services, res: ServerResponse): Promise<void> {
  const [database, redis, storage] = await Promise.all([
    check(() => services.db.execute(sql`select 1`)),
    check(() => services.queues.ping()),
    check(() => services.storage.head(STORAGE_PROBE_KEY)),
  ]);
  const checks = { database, redis, storage };
  const down = Object.entries(checks).flatMap(([name, state]) => (state === 'ok' ? [] : [name]));
  const ready = down.length === 0;
  const headers = ready ? {} : retryAfterFor(503);
  sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not_ready', checks, ...(ready ? {} : { down }) }, headers);
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
