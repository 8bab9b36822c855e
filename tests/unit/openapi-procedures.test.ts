import { initTRPC, TRPCError } from '@trpc/server';
import type { OpenApiMeta } from 'trpc-to-openapi';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createRestProcedureHandler } from '@/server/http/openapi-procedures';

/**
 * The REST face hands trpc-to-openapi an object dressed as a web Request whose getters would
 * throw if the adapter read them (server/http/openapi-procedures.ts). These calls go through
 * the pinned adapter for real: query coercion, a JSON body with path parameters, a 201, a
 * refusal and an unknown path. An upgrade that starts reading the Request some other way
 * fails here first.
 */
const t = initTRPC.context<{ caller: string | null }>().meta<OpenApiMeta>().create();
const router = t.router({
  list: t.procedure
    .meta({ openapi: { method: 'GET', path: '/things' } })
    .input(z.object({ limit: z.number().int(), tag: z.string().optional() }))
    .output(z.object({ limit: z.number(), tag: z.string().nullable(), caller: z.string().nullable() }))
    .query(({ input, ctx }) => ({ limit: input.limit, tag: input.tag ?? null, caller: ctx.caller })),
  rename: t.procedure
    .meta({ openapi: { method: 'POST', path: '/things/{id}/rename' } })
    .input(z.object({ id: z.string(), name: z.string().min(1) }))
    .output(z.object({ id: z.string(), name: z.string() }))
    .mutation(({ input }) => {
      if (input.id === 'locked') throw new TRPCError({ code: 'CONFLICT', message: 'thing is locked' });
      return { id: input.id, name: input.name };
    }),
});

const handler = createRestProcedureHandler({
  router: router as never,
  createContext: async (call) => ({ caller: call.headers.get('x-caller') }) as never,
  responseMeta: ({ paths, errors }) => (errors.length === 0 && paths?.[0] === 'rename' ? { status: 201 } : {}),
});
const headers = (h: Record<string, string>) => new Headers(h);

describe('the REST procedure handler over trpc-to-openapi', () => {
  it('GET: the query is coerced into the input, headers reach the context', async () => {
    const answer = await handler({
      method: 'GET',
      url: '/things?limit=5&tag=a',
      headers: headers({ 'x-caller': 'ci' }),
      body: undefined,
    });
    expect({ status: answer.status, type: answer.headers['content-type'], body: JSON.parse(answer.body) }).toEqual({
      status: 200,
      type: 'application/json',
      body: { limit: 5, tag: 'a', caller: 'ci' },
    });
  });

  it('POST: the checked JSON body and the path parameters make the input; responseMeta sets 201', async () => {
    const answer = await handler({
      method: 'POST',
      url: '/things/t1/rename',
      headers: headers({}),
      body: { name: 'new' },
    });
    expect({ status: answer.status, body: JSON.parse(answer.body) }).toEqual({
      status: 201,
      body: { id: 't1', name: 'new' },
    });
  });

  it('a refused call, bad input and an unknown path answer their statuses with the error body', async () => {
    const locked = await handler({
      method: 'POST',
      url: '/things/locked/rename',
      headers: headers({}),
      body: { name: 'x' },
    });
    expect({ status: locked.status, code: JSON.parse(locked.body).code }).toEqual({ status: 409, code: 'CONFLICT' });
    const bad = await handler({ method: 'POST', url: '/things/t1/rename', headers: headers({}), body: { name: '' } });
    expect({ status: bad.status, issues: JSON.parse(bad.body).issues?.[0]?.path }).toEqual({
      status: 400,
      issues: ['name'],
    });
    const unknown = await handler({ method: 'GET', url: '/nothing', headers: headers({}), body: undefined });
    expect({ status: unknown.status, code: JSON.parse(unknown.body).code }).toEqual({ status: 404, code: 'NOT_FOUND' });
  });
});
