import { createOpenApiFetchHandler } from 'trpc-to-openapi';
import { isErrorCode, type ErrorCode, type ErrorEnvelope } from '../contract/errors';
import { ZArtifactMetaInput } from '../contract/schemas';
import { isAppError } from '../errors';
import { actorFromRequest, requireRole } from '../http';
import { handleLegacyUpload } from './legacy-upload';
import { handleLogsRequest, LOGS_PATH_RE } from './logs';
import { isStored } from '../services/artifacts/query.service';
import type { Services } from '../services/context';
import { createInnerContext } from '../trpc/init';
import { appRouter } from '../trpc/root';
import { pinBodyInputCoercion } from './strict-inputs';

pinBodyInputCoercion(appRouter);

/** Procedures whose success creates something: 201 on REST, as the seed answers. */
const CREATED = new Set(['apps.create', 'keys.add']);

const CODE_BY_TRPC: Record<string, ErrorCode> = {
  PARSE_ERROR: 'bad_request',
  BAD_REQUEST: 'bad_request',
  UNAUTHORIZED: 'unauthorized',
  FORBIDDEN: 'forbidden',
  NOT_FOUND: 'not_found',
  METHOD_NOT_SUPPORTED: 'bad_request',
  UNSUPPORTED_MEDIA_TYPE: 'bad_request',
  CONFLICT: 'conflict',
  PAYLOAD_TOO_LARGE: 'payload_too_large',
  NOT_IMPLEMENTED: 'not_implemented',
  SERVICE_UNAVAILABLE: 'service_unavailable',
};

interface OpenApiErrorBody {
  message?: string;
  code?: string;
  data?: { code?: string };
  issues?: Array<{ path?: Array<string | number>; message?: string }>;
}

/**
 * The seed's envelope `{ code, message }` from trpc-to-openapi's error body, which carries our
 * formatter's shape (`data.code`) plus its own `code`/`issues` fields.
 */
export function toEnvelope(body: OpenApiErrorBody): ErrorEnvelope {
  const code: ErrorCode = isErrorCode(body.data?.code) ? body.data.code : (CODE_BY_TRPC[body.code ?? ''] ?? 'internal');
  if (body.issues?.length) {
    const parts = body.issues.map((i) => `${(i.path ?? []).join('.') || 'body'}: ${i.message ?? 'invalid'}`);
    return { code: 'bad_request', message: `invalid input: ${parts.join(', ')}` };
  }
  if (code === 'internal') return { code, message: 'internal error' };
  return { code, message: body.message ?? code };
}

/**
 * The REST face of the tRPC procedures: every procedure with `meta.openapi` answers at its
 * seed path, with the same auth, validation and services. Errors use the seed's envelope.
 */
export async function handleRestRequest(services: Services, req: Request): Promise<Response> {
  if (req.method === 'HEAD') return handleHead(services, req);
  // Before trpc-to-openapi, which would buffer the body: the legacy upload streams it.
  if (req.method === 'POST' && new URL(req.url).pathname.replace(/\/+$/, '') === '/artifacts') return handleLegacyUpload(services, req);
  // A stream, not a procedure's JSON (Next serves it from app/apps/[app]/logs; here for the rest).
  const logs = req.method === 'GET' ? LOGS_PATH_RE.exec(new URL(req.url).pathname) : null;
  if (logs) return handleLogsRequest(services, req, logs[1]!);
  const res = await createOpenApiFetchHandler({
    endpoint: '/',
    req: await withJsonBody(req),
    router: appRouter,
    createContext: async () => {
      const { actor, authError } = await actorFromRequest(services, req);
      return createInnerContext(services, actor, authError);
    },
    responseMeta: ({ paths, errors }) => (errors.length === 0 && paths?.length === 1 && CREATED.has(paths[0]!) ? { status: 201 } : {}),
  });
  if (res.status < 400) return res;
  const body = (await res.json().catch(() => ({}))) as OpenApiErrorBody;
  const headers = new Headers(res.headers);
  headers.delete('content-length');
  return Response.json(toEnvelope(body), { status: res.status, headers });
}

/**
 * trpc-to-openapi insists on a JSON content-type for every POST, even one whose whole input is
 * in the path (`POST .../deactivate`): a bodyless request gets an empty JSON object instead.
 */
async function withJsonBody(req: Request): Promise<Request> {
  if (req.method === 'GET' || req.method === 'DELETE' || req.headers.get('content-type')) return req;
  const body = await req.text();
  const headers = new Headers(req.headers);
  // A body without a content-type stays one (and is refused); only an empty body becomes {}.
  if (body.length === 0) headers.set('content-type', 'application/json');
  return new Request(req.url, { method: req.method, headers, body: body.length ? body : '{}', signal: req.signal });
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
    await requireRole(services, req, 'reader');
    const input = ZArtifactMetaInput.safeParse({ digest: match[1], app_name: url.searchParams.get('app_name') ?? undefined });
    if (!input.success) return new Response(null, { status: 400 });
    const stored = await isStored(services, input.data);
    return new Response(null, { status: stored ? 200 : 404 });
  } catch (err) {
    return new Response(null, { status: isAppError(err) ? err.httpStatus : 500 });
  }
}
