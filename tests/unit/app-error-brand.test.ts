import { TRPCError } from '@trpc/server';
import { describe, expect, it, vi } from 'vitest';
import * as first from '../../server/errors';
import { errorResponse } from '../../server/http/errors';
import type { Services } from '../../server/services/context';
import { createInnerContext, createTRPCRouter, publicProcedure } from '../../server/trpc/init';

/**
 * Next bundles route handlers separately, so an AppError thrown by a service may come from
 * another copy of server/errors.ts than the one the error handling imports. A second copy is
 * loaded here the same way: a fresh module instance with its own AppError class.
 */
async function secondCopy(): Promise<typeof first> {
  vi.resetModules();
  const copy = await import('../../server/errors');
  vi.resetModules();
  return copy;
}

describe('AppError from a separately loaded copy of its module', () => {
  it('is a different class, and still recognised as ours', async () => {
    const copy = await secondCopy();
    const foreign = new copy.AppError('bad_request', 'part 1 was not uploaded');
    expect(copy.AppError).not.toBe(first.AppError);
    expect(foreign instanceof first.AppError).toBe(false);
    expect(first.isAppError(foreign)).toBe(true);
  });

  it('is rendered by REST with its own status and code, not as a 500 internal', async () => {
    const copy = await secondCopy();
    const res = errorResponse(null, new copy.AppError('digest_mismatch', 'assembled bytes do not match'));
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 400, body: { code: 'digest_mismatch', message: 'assembled bytes do not match' } });
  });

  it('keeps its code through a tRPC procedure', async () => {
    const copy = await secondCopy();
    const router = createTRPCRouter({
      fail: publicProcedure.mutation(() => {
        throw new copy.AppError('bad_request', 'part 1 was not uploaded');
      }),
    });
    const services = { metrics: { trpcRequests: { inc: () => undefined } }, log: { error: () => undefined } } as unknown as Services;
    const err = await router.createCaller(createInnerContext(services, null)).fail().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TRPCError);
    expect({ code: (err as TRPCError).code, message: (err as TRPCError).message }).toEqual({ code: 'BAD_REQUEST', message: 'part 1 was not uploaded' });
  });

  it('is not fooled by look-alikes: a plain error, or a brand with an unknown code', () => {
    expect(first.isAppError(new Error('bad_request'))).toBe(false);
    expect(first.isAppError({ code: 'bad_request', message: 'x' })).toBe(false);
    expect(first.isAppError({ [Symbol.for('aether.AppError')]: true, code: 'no_such_code' })).toBe(false);
    expect(first.isAppError(null)).toBe(false);
  });
});
