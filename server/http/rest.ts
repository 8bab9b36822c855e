import type { IncomingMessage, ServerResponse } from 'node:http';
import { isErrorCode, validationCodeOf, type ErrorCode, type ErrorEnvelope } from '../contract/errors';
import { ZArtifactMetaInput } from '../contract/schemas';
import { isAppError } from '../errors';
import { outageError } from '../outage';
import { actorFromRequest, requireRole } from './auth';
import { retryAfterFor, sendEnvelope } from './envelope';
import { sendError } from './errors';
import { sendMethodNotAllowed } from './method-not-allowed';
import { readJsonBody } from './json-body';
import { headersOf, pathnameOf } from './node-request';
import { serveWeb } from './node-web';
import { createRestProcedureHandler, type RestAnswer, type RestCall } from './openapi-procedures';
import { REQUEST_ID_HEADER, requestIdOf } from './request-id';
import { handleLegacyUpload } from './legacy-upload';
import { handleLogsRequest, LOGS_PATH_RE } from './logs';
import { isStored } from '../services/artifacts/query.service';
import type { Services } from '../services/context';
import { createInnerContext } from '../trpc/init';
import { errorCodeOfTrpc, exactStatusOf } from '../trpc/error-codes';
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
 * Served from the Node request itself: the hot paths (presign, lists, whoami) never build a
 * web Request or Response. The hand routes (HEAD, the legacy upload, the log stream) are web
 * handlers, served through `serveWeb`.
 */
export async function serveRest(services: Services, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const pathname = pathnameOf(req.url);
  const method = req.method ?? 'GET';
  const allowed = allowedMethods(pathname);
  if (allowed.length > 0 && !allowed.includes(method)) return sendMethodNotAllowed(res, method, allowed);
  // An absolute-form target (`GET http://host/apps`) or `*` names no path of ours.
  if (!req.url?.startsWith('/')) return sendEnvelope(res, { code: 'not_found', message: 'the request target must be a path' });
  if (isHandRoute(method, pathname)) return serveWeb((request) => handleRestRequest(services, request), req, res);
  let body: Record<string, unknown> | undefined;
  try {
    body = await readJsonBody(req, services.env.AETHER_MAX_JSON_BODY_BYTES);
  } catch (err) {
    return sendError(services, res, err);
  }
  const answer = await procedureHandler(services)({ method, url: req.url, headers: headersOf(req), body });
  const text = answer.status < 400 ? answer.body : JSON.stringify(envelopeOf(answer.body));
  res.writeHead(answer.status, { ...retryAfterFor(answer.status, answer.headers), ...answer.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Routes that are not procedures: the artifact HEAD, the legacy upload (it streams bytes, under its own limits), the log stream. */
function isHandRoute(method: string, pathname: string): boolean {
  if (method === 'HEAD') return true;
  if (method === 'POST') return pathname.replace(/\/+$/, '') === '/artifacts';
  return method === 'GET' && LOGS_PATH_RE.test(pathname);
}

/** The web handler of the hand routes (see `isHandRoute`). */
async function handleRestRequest(services: Services, req: Request): Promise<Response> {
  const { pathname } = new URL(req.url);
  const logs = LOGS_PATH_RE.exec(pathname);
  if (req.method === 'HEAD') {
    if (HEAD_ARTIFACT_RE.test(pathname)) return handleHead(services, req);
    // HTTP: a resource that answers GET answers HEAD with the same status and headers, no body.
    if (logs) {
      const stream = await handleLogsRequest(services, new Request(req, { method: 'GET' }), logs[1]!);
      await stream.body?.cancel();
      return new Response(null, { status: stream.status, headers: stream.headers });
    }
    const { pathname: path, search } = new URL(req.url);
    const answer = await procedureHandler(services)({ method: 'GET', url: `${path}${search}`, headers: req.headers, body: undefined });
    return new Response(null, { status: answer.status, headers: { ...retryAfterFor(answer.status, answer.headers), ...answer.headers, 'content-type': 'application/json' } });
  }
  if (logs) return handleLogsRequest(services, req, logs[1]!);
  return handleLegacyUpload(services, req, requestIdOf(req.headers));
}

function envelopeOf(errorBody: string): ErrorEnvelope {
  try {
    return toEnvelope(JSON.parse(errorBody) as OpenApiErrorBody);
  } catch {
    return { code: 'internal', message: 'internal error' };
  }
}

const procedureHandlers = new WeakMap<Services, (call: RestCall) => Promise<RestAnswer>>();

/** The procedures' REST handler of one process's services, built on first use. */
function procedureHandler(services: Services): (call: RestCall) => Promise<RestAnswer> {
  let handler = procedureHandlers.get(services);
  if (!handler) {
    handler = createRestProcedureHandler({
      router: appRouter,
      createContext: async (call) => {
        const { actor, authError } = await actorFromRequest(services, call);
        return createInnerContext(services, actor, authError, call.headers.get(REQUEST_ID_HEADER) ?? undefined);
      },
      responseMeta: ({ paths, errors }) =>
        errors.length === 0 && paths?.length === 1 && CREATED_PROCEDURES.has(paths[0]!) ? { status: 201 } : exactStatusOf(errors as Array<{ cause?: unknown }>, paths),
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
    const known = isAppError(err) ? err : outageError(err);
    return new Response(null, { status: known?.httpStatus ?? 500, headers: retryAfterFor(known?.httpStatus ?? 500) });
  }
}
