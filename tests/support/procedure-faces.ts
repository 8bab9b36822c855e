import { TRPCError } from '@trpc/server';
import type { Actor } from '../../server/auth/roles';
import { isAppError } from '../../server/errors';
import type { Services } from '../../server/services/context';
import { appRouter } from '../../server/trpc/root';
import { callerAs, callPath } from './audit';
import { errorCodeOfTrpc } from '../../server/trpc/error-codes';

/**
 * Any procedure of appRouter, called by its dotted path on one face: `caller` (createCaller
 * with an Actor built directly), `trpc` (HTTP, /api/trpc) or `rest` (HTTP, its OpenAPI route).
 * Every face answers an {@link Outcome}, so one table of expectations serves all three.
 */
export type ProcedureFace = 'caller' | 'trpc' | 'rest';

export interface Outcome {
  /** `ok`, or the error code (REST envelope `code`, tRPC `error.data.code`, AppError code). */
  code: string;
  message?: string;
  data?: unknown;
}

interface ProcDef {
  _def: { type: 'query' | 'mutation' | 'subscription'; meta?: { openapi?: { method: string; path: string } } };
}

export function procedureDefs(): Record<string, ProcDef> {
  return appRouter._def.procedures as unknown as Record<string, ProcDef>;
}

/** Routes served outside the OpenAPI adapter for procedures without one of their own. */
const HAND_WRITTEN_REST: Record<string, { method: string; path: string }> = {
  'deployments.logs': { method: 'GET', path: '/apps/{app_name}/logs' },
};

export function restRouteOf(path: string): { method: string; path: string } | undefined {
  return procedureDefs()[path]?._def.meta?.openapi ?? HAND_WRITTEN_REST[path];
}

export async function callWithCaller(services: Services, who: Actor, path: string, input: unknown): Promise<Outcome> {
  try {
    let data = await callPath(callerAs(services, who), path, input);
    if (procedureDefs()[path]?._def.type === 'subscription') {
      const entries: unknown[] = [];
      for await (const e of data as AsyncIterable<unknown>) entries.push(e);
      data = entries;
    }
    return { code: 'ok', data };
  } catch (err) {
    // A subscription's resolver throws while it is iterated, outside tRPC's error mapping.
    if (isAppError(err)) return { code: err.code, message: err.message };
    if (!(err instanceof TRPCError)) throw err;
    return { code: isAppError(err.cause) ? err.cause.code : errorCodeOfTrpc(err.code), message: err.message };
  }
}

async function readBody(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
}

export async function callOverTrpc(url: string, headers: Record<string, string>, path: string, input: unknown): Promise<Outcome> {
  const def = procedureDefs()[path]!._def;
  const res =
    def.type === 'query'
      ? await fetch(`${url}/api/trpc/${path}${input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`}`, { headers })
      : await fetch(`${url}/api/trpc/${path}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(input ?? {}) });
  const body = (await readBody(res)) as { result?: { data?: unknown }; error?: { message?: string; data?: { code?: string } } } | undefined;
  if (res.ok) return { code: 'ok', data: body?.result?.data };
  return { code: body?.error?.data?.code ?? `http_${res.status}`, message: body?.error?.message };
}

export async function callOverRest(url: string, headers: Record<string, string>, path: string, input: unknown): Promise<Outcome> {
  const route = restRouteOf(path)!;
  const rest: Record<string, unknown> = { ...((input as Record<string, unknown> | undefined) ?? {}) };
  const filled = route.path.replace(/\{([a-z_]+)\}/g, (_, name: string) => {
    const v = rest[name];
    delete rest[name];
    return encodeURIComponent(String(v));
  });
  const init: RequestInit = { method: route.method, headers };
  let target = `${url}${filled}`;
  if (route.method === 'GET' || route.method === 'DELETE') {
    const qs = new URLSearchParams(Object.entries(rest).map(([k, v]) => [k, String(v)]));
    if ([...qs].length) target += `?${qs}`;
  } else {
    init.headers = { ...headers, 'content-type': 'application/json' };
    init.body = JSON.stringify(rest);
  }
  const res = await fetch(target, init);
  const body = await readBody(res);
  if (res.ok) return { code: 'ok', data: body };
  const env = (body ?? {}) as { code?: string; message?: string };
  return { code: env.code ?? `http_${res.status}`, message: env.message };
}
