/**
 * tRPC, built in one place.
 *
 * 1. CONTEXT: `createInnerContext` takes the process's services and the caller; tests call it
 *    directly (`appRouter.createCaller(createInnerContext(...))`) with no HTTP in between.
 * 2. INIT: one error formatter renders every failure with a stable `data.code` from the error
 *    table, flattens zod issues, and never sends a 5xx's internals to the client.
 * 3. PROCEDURES: `publicProcedure`, and `roleProcedure(role)`, which narrows the actor to
 *    non-null and enforces the role hierarchy (reader < deployer < admin). Every mutation,
 *    whatever its outcome, writes one audit record (server/services/audit).
 */
import { randomUUID } from 'node:crypto';
import { TRPCError, initTRPC } from '@trpc/server';
import type { OpenApiMeta } from 'trpc-to-openapi';
import { z, ZodError } from 'zod';
import { isErrorCode, validationCodeOf, type ErrorCode } from '../contract/errors';
import { AppError, isAppError } from '../errors';
import { driverMessage, outageError, unavailableDependency } from '../outage';
import { errorCodeOfTrpc, trpcCodeOfStatus } from './error-codes';
import { roleAllows, type Actor, type Role } from '../auth/roles';
import { recordMutation } from '../services/audit/mutation';
import type { AuditNote, Services, ServiceCtx } from '../services/context';

// ---------------------------------------------------------------- 1. context

export interface TrpcContext {
  services: Services;
  actor: Actor | null;
  /** Why a presented token was refused; reported only when a procedure needs an actor. */
  authError: AppError | null;
  /** The request's id (X-Request-Id when the caller sent a sane one); minted for in-process callers. */
  requestId: string;
}

export function createInnerContext(
  services: Services,
  actor: Actor | null,
  authError: AppError | null = null,
  requestId: string = randomUUID(),
): TrpcContext {
  return { services, actor, authError, requestId };
}

// ---------------------------------------------------------------- 2. init

export function toTrpcError(err: AppError): TRPCError {
  return new TRPCError({ code: trpcCodeOfStatus(err.httpStatus), message: err.message, cause: err });
}

function describeZodError(err: ZodError): string {
  const flat = z.flattenError(err);
  const parts = [...flat.formErrors, ...Object.entries(flat.fieldErrors).map(([k, v]) => `${k}: ${(v as string[]).join('; ')}`)];
  return `invalid input: ${parts.join(', ')}`;
}

const t = initTRPC.context<TrpcContext>().meta<OpenApiMeta>().create({
  errorFormatter({ shape, error }) {
    const cause = error.cause;
    const zod = cause instanceof ZodError ? cause : null;
    const code: ErrorCode =
      isAppError(cause) ? cause.code : zod ? validationCodeOf(zod.issues) : errorCodeOfTrpc(error.code);
    const message = zod ? describeZodError(zod) : code === 'internal' ? 'internal error' : shape.message;
    return {
      ...shape,
      message,
      data: {
        code: isErrorCode(code) ? code : 'internal',
        httpStatus: shape.data.httpStatus,
        path: shape.data.path,
        fieldErrors: zod ? z.flattenError(zod).fieldErrors : undefined,
      },
    };
  },
});

export const createTRPCRouter = t.router;
export const createCallerFactory = t.createCallerFactory;

// ---------------------------------------------------------------- 3. procedures

/** The error code a caller gets for a failed call, as the error formatter renders it. */
function errorCodeOf(error: TRPCError): ErrorCode {
  const cause = error.cause;
  if (isAppError(cause)) return cause.code;
  if (cause instanceof ZodError) return validationCodeOf(cause.issues);
  // A driver's error (`audited` sees it before `observed` maps it): an outage is a 503, not a 500.
  return unavailableDependency(cause) ? 'service_unavailable' : errorCodeOfTrpc(error.code);
}

/** Maps domain errors to tRPC errors, logs unexpected ones, and counts every call. */
const observed = t.middleware(async ({ ctx, path, next }) => {
  const result = await next();
  const { metrics, log } = ctx.services;
  if (result.ok) {
    metrics.trpcRequests.inc({ procedure: path, code: 'ok' });
    return result;
  }
  const cause = result.error.cause;
  const outage = isAppError(cause) ? null : outageError(cause);
  if (outage) {
    metrics.trpcRequests.inc({ procedure: path, code: outage.code });
    log.warn('procedure failed: dependency unavailable', { path, dependency: outage.details?.dependency, error: driverMessage(cause) });
    throw toTrpcError(outage);
  }
  if (isAppError(cause)) {
    metrics.trpcRequests.inc({ procedure: path, code: cause.code });
    if (cause.code === 'service_unavailable') log.warn('procedure failed', { path, code: cause.code, message: cause.message });
    else if (cause.httpStatus >= 500) log.error('procedure failed', { path, code: cause.code, message: cause.message });
    throw toTrpcError(cause);
  }
  const code = errorCodeOf(result.error);
  metrics.trpcRequests.inc({ procedure: path, code });
  if (code === 'internal') log.error('procedure crashed', { path, err: cause ?? result.error });
  return result;
});

/**
 * One audit record per mutation, whatever its outcome (a refused role and bad input too).
 * Outside the role check so refusals are recorded; calls without an actor are not (anyone can
 * make those, so recording them would let anyone fill the log). Services add to the record
 * through `svc.audit` (see noteAudit).
 */
const audited = t.middleware(async ({ ctx, type, path, getRawInput, next }) => {
  if (type !== 'mutation') return next({ ctx: { auditNote: undefined as AuditNote | undefined } });
  const note: AuditNote = {};
  const result = await next({ ctx: { auditNote: note as AuditNote | undefined } });
  if (ctx.actor) {
    const rawInput = await getRawInput().catch(() => undefined);
    const outcome = result.ok ? 'ok' : errorCodeOf(result.error);
    const { actor, requestId } = ctx;
    const recording = recordMutation(ctx.services, { actor, action: path, outcome, requestId, note, rawInput });
    // A dependency is down: the record is attempted (and logged loudly when lost) but the 503
    // does not also wait out the database's deadline for it.
    if (outcome !== 'service_unavailable') await recording;
  }
  return result;
});

export const publicProcedure = t.procedure.use(observed).use(audited);

/** A procedure for callers holding at least `role`; its handlers get a ServiceCtx. */
export function roleProcedure(role: Role) {
  return publicProcedure.use(({ ctx, next }) => {
    if (!ctx.actor) throw toTrpcError(ctx.authError ?? new AppError('unauthorized', 'missing bearer token'));
    if (!roleAllows(ctx.actor.role, role)) {
      throw toTrpcError(new AppError('forbidden', `this needs the ${role} role; you are ${ctx.actor.role}`));
    }
    const svc: ServiceCtx = { ...ctx.services, actor: ctx.actor, requestId: ctx.requestId, audit: ctx.auditNote };
    return next({ ctx: { ...ctx, actor: ctx.actor, svc } });
  });
}

export const readerProcedure = roleProcedure('reader');
export const deployerProcedure = roleProcedure('deployer');
export const adminProcedure = roleProcedure('admin');
