import { isErrorCode, validationCodeOf, type ErrorCode, type ErrorEnvelope } from '../contract/errors';
import { ZArtifactMetaInput } from '../contract/schemas';
import { isAppError } from '../errors';
import { actorFromRequest, requireRole } from './auth';
import { errorResponse } from './errors';
import { methodNotAllowed } from './method-not-allowed';
import { REQUEST_ID_HEADER, requestIdOf } from './request-id';
import { createRestProcedureHandler } from './openapi-fetch';
import { jsonRequest } from './json-request';
import { handleLegacyUpload } from './legacy-upload';
import { handleLogsRequest, LOGS_PATH_RE } from './logs';
import { isStored } from '../services/artifacts/query.service';
import type { Services } from '../services/context';
import { createInnerContext } from '../trpc/init';
import { errorCodeOfTrpc } from '../trpc/error-codes';
import { appRouter } from '../trpc/root';
import { CREATED_PROCEDURES, restRouteTable } from '../rest/routes';
import { pinBodyInputCoercion } from '../rest/strict-inputs';

pinBodyInputCoercion(appRouter);
const allowedMethods = restRouteTable(appRouter);

interface OpenApiErrorBody {
  message?: string;
  code?: string;
  data?: { code?: string };
  issues?: Array<{ code?: string; path?: Array<string | number>; message?: string }>;
}

/**
 * The seed's envelope `{ code, message }` from trpc-to-openapi's error body, which carries our
 * formatter's shape (`data.code`) plus its own `code`/`issues` fields.
 */
export function toEnvelope(body: OpenApiErrorBody): ErrorEnvelope {
  const code: ErrorCode = isErrorCode(body.data?.code) ? body.data.code : errorCodeOfTrpc(body.code);
  if (body.issues?.length) {
    const parts = body.issues.map((i) => `${(i.path ?? []).join('.') || 'body'}: ${i.message ?? 'invalid'}`);
    return { code: validationCodeOf(body.issues), message: `invalid input: ${parts.join(', ')}` };
  }
  if (code === 'internal') return { code, message: 'internal error' };
  return { code, message: body.message ?? code };
}

/**
 * The REST face of the tRPC procedures: every procedure with `meta.openapi` answers at its
 * seed path, with the same auth, validation and services. Errors use the seed's envelope.
 */
export async function handleRestRequest(services: Services, req: Request): Promise<Response> {
  return serveRest(services, req, requestIdOf(req.headers));
}

async function serveRest(services: Services, req: Request, requestId: string): Promise<Response> {
  const { pathname } = new URL(req.url);
  const allowed = allowedMethods(pathname);
  if (allowed.length > 0 && !allowed.includes(req.method)) return methodNotAllowed(req.method, allowed);
  if (req.method === 'HEAD') {
    if (HEAD_ARTIFACT_RE.test(pathname)) return handleHead(services, req);
    // HTTP: a resource that answers GET answers HEAD with the same status and headers, no body.
    const res = await serveRest(services, new Request(req, { method: 'GET' }), requestId);
    await res.body?.cancel();
    return new Response(null, { status: res.status, headers: res.headers });
  }
  // Before the JSON body is read: the legacy upload streams artifact bytes, under its own limits.
  if (req.method === 'POST' && pathname.replace(/\/+$/, '') === '/artifacts') return handleLegacyUpload(services, req, requestId);
  // A stream, not a procedure's JSON (Next serves it from app/apps/[app]/logs; here for the rest).
  const logs = req.method === 'GET' ? LOGS_PATH_RE.exec(pathname) : null;
  if (logs) return handleLogsRequest(services, req, logs[1]!);
  let input: Request;
  try {
    input = await jsonRequest(req, services.env.AETHER_MAX_JSON_BODY_BYTES);
  } catch (err) {
    return errorResponse(services, err);
  }
  input.headers.set(REQUEST_ID_HEADER, requestId);
  const res = await procedureHandler(services)(input);
  if (res.status < 400) return res;
  const body = (await res.json().catch(() => ({}))) as OpenApiErrorBody;
  const headers = new Headers(res.headers);
  headers.delete('content-length');
  return Response.json(toEnvelope(body), { status: res.status, headers });
}

const procedureHandlers = new WeakMap<Services, (req: Request) => Promise<Response>>();

/** The procedures' REST handler of one process's services, built on first use. */
function procedureHandler(services: Services): (req: Request) => Promise<Response> {
  let handler = procedureHandlers.get(services);
  if (!handler) {
    handler = createRestProcedureHandler({
      router: appRouter,
      createContext: async (req) => {
        const { actor, authError } = await actorFromRequest(services, req);
        return createInnerContext(services, actor, authError, req.headers.get(REQUEST_ID_HEADER) ?? undefined);
      },
      responseMeta: ({ paths, errors }) => (errors.length === 0 && paths?.length === 1 && CREATED_PROCEDURES.has(paths[0]!) ? { status: 201 } : {}),
    });
    procedureHandlers.set(services, handler);
  }
  return handler;
}

const HEAD_ARTIFACT_RE = /^\/artifacts\/([^/]+)$/;

/**
 * `HEAD /artifacts/{digest}[?app_name=]`: 200 only when the bytes are stored, 404 otherwise, no
 * body (the CLI's skip-the-upload fast path). HEAD has no tRPC procedure, so it is routed here.
 */
async function handleHead(services: Services, req: Request): Promise<Response> {
  const url = new URL(req.url);
  const match = HEAD_ARTIFACT_RE.exec(url.pathname);
  if (!match) return new Response(null, { status: 404 });
  try {
    const actor = await requireRole(services, req, 'reader');
    const input = ZArtifactMetaInput.safeParse({ digest: match[1], app_name: url.searchParams.get('app_name') ?? undefined });
    if (!input.success) return new Response(null, { status: 400 });
    const stored = await isStored({ ...services, actor }, input.data);
    return new Response(null, { status: stored ? 200 : 404 });
  } catch (err) {
    return new Response(null, { status: isAppError(err) ? err.httpStatus : 500 });
  }
}
