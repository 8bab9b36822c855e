import { TRPCError } from '@trpc/server';
import { count, desc } from 'drizzle-orm';
import { auditLog } from '../../db/schema';
import type { Actor, Role } from '../../server/auth/roles';
import { isAppError } from '../../server/errors';
import type { Services } from '../../server/services/context';
import { createInnerContext } from '../../server/trpc/init';
import { appRouter, createCaller } from '../../server/trpc/root';
import { errorCodeOfTrpc } from '../../server/trpc/error-codes';

export type AuditRow = typeof auditLog.$inferSelect;

export function actor(role: Role, teams: readonly string[] | null = null, name = `${role}-user`): Actor {
  return { name, role, tokenId: null, teams };
}

export function callerAs(services: Services, who: Actor | null, requestId?: string) {
  return createCaller(createInnerContext(services, who, null, requestId));
}

export async function auditCount(services: Services): Promise<number> {
  const [row] = await services.db.select({ n: count() }).from(auditLog);
  return row!.n;
}

export async function latestAudit(services: Services, n = 1): Promise<AuditRow[]> {
  return services.db.select().from(auditLog).orderBy(desc(auditLog.id)).limit(n);
}

/** Every procedure path of the router with its type, as the router has them right now. */
export function procedurePaths(): Array<{ path: string; type: string }> {
  const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>;
  return Object.entries(procedures).map(([path, p]) => ({ path, type: p._def.type }));
}

type AnyCall = (input: unknown) => Promise<unknown>;

/** Calls a procedure by its dotted path through a server-side caller. */
export function callPath(caller: ReturnType<typeof createCaller>, path: string, input: unknown): Promise<unknown> {
  const fn = path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], caller) as AnyCall;
  return fn(input);
}

/** The code a caller got: `ok`, the domain error's code, or the tRPC code's equivalent. */
export async function outcomeOf(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return 'ok';
  } catch (err) {
    if (!(err instanceof TRPCError)) throw err;
    if (isAppError(err.cause)) return err.cause.code;
    return errorCodeOfTrpc(err.code);
  }
}

/** A database error's text, including the driver's own message under drizzle's wrapper. */
export async function dbRefusal(query: PromiseLike<unknown>): Promise<string> {
  try {
    await query;
    return 'accepted';
  } catch (err) {
    const e = err as Error & { cause?: Error };
    return `${e.message} ${e.cause?.message ?? ''}`;
  }
}
