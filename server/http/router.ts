import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Services } from '../services/context';
import { serveRuntimeArtifact } from './runtime-artifact';
import { serveMetrics } from './metrics';
import { serveRest } from './rest';
import { headersOf, pathnameOf } from './node-request';
import { restRouteTable, restRouteTemplate } from '../rest/routes';
import { buildOpenApiDocument } from '../rest/openapi';
import { handleTrpcRequest, TRPC_ENDPOINT, trpcAllowedMethods } from './trpc';
import { appRouter } from '../trpc/root';
import { serveConsoleLogs, CONSOLE_LOGS_RE } from './console-logs';
import { sendEnvelope } from './envelope';
import { sendMethodNotAllowed } from './method-not-allowed';
import { serveLiveness, serveReadiness, serveStartup, sendJson } from './health';
import { serveWeb } from './node-web';
import { REQUEST_ID_HEADER, requestIdOf, TRACE_ID_HEADER, traceIdOf } from './request-id';
import { observeHttpRequest, UNMATCHED_ROUTE } from './request-metrics';
import { serveStorage } from './storage';
import { serveSwagger, SWAGGER_PATH_RE } from './swagger';

/**
 * The control plane's HTTP edge: one route table for the API, production and tests alike.
 * Next.js serves only the portal (pages, their RSC payloads and server actions, its assets).
 */

type Serve = (services: Services, req: IncomingMessage, res: ServerResponse, match: RegExpExecArray) => Promise<void> | void;

interface Route {
  re: RegExp;
  /** The `path` label of the request metrics: a template, never the raw path. */
  label: string;
  /** Probes and scrapes arrive every few seconds: logged at debug, not info. */
  quiet?: boolean;
  /** null: the handler answers other methods itself (tRPC, per procedure). */
  methods: readonly string[] | null;
  serve: Serve;
}

const READ = ['GET', 'HEAD'] as const;

/** A web-standard handler (tRPC's fetch adapter, the fs store, the REST face) as a route. */
const web =
  (handler: (services: Services, req: Request, match: RegExpExecArray) => Promise<Response>): Serve =>
  (services, req, res, match) =>
    serveWeb((request) => handler(services, request, match), req, res);

/** The OpenAPI document, built once per public URL: it is a few hundred KB of work. */
const openApiDocs = new Map<string, Buffer>();
function openApiBody(publicUrl: string): Buffer {
  let body = openApiDocs.get(publicUrl);
  if (!body) openApiDocs.set(publicUrl, (body = Buffer.from(JSON.stringify(buildOpenApiDocument(publicUrl)))));
  return body;
}

const ROUTES: Route[] = [
  { re: /^\/healthz\/?$/, label: '/healthz', quiet: true, methods: READ, serve: (_s, _req, res) => serveLiveness(res) },
  { re: /^\/readyz\/?$/, label: '/readyz', quiet: true, methods: READ, serve: (s, _req, res) => serveReadiness(s, res) },
  { re: /^\/startupz\/?$/, label: '/startupz', quiet: true, methods: READ, serve: (s, _req, res) => serveStartup(s, res) },
  { re: /^\/metrics\/?$/, label: '/metrics', quiet: true, methods: READ, serve: web((s, req) => serveMetrics(s, req)) },
  { re: /^\/openapi\.json$/, label: '/openapi.json', methods: READ, serve: (s, _req, res) => sendJson(res, 200, openApiBody(s.env.AETHER_PUBLIC_URL)) },
  { re: SWAGGER_PATH_RE, label: '/swagger', methods: READ, serve: (_s, req, res, m) => serveSwagger(req, res, m) },
  { re: /^\/storage\//, label: '/storage/{key}', methods: ['GET', 'HEAD', 'PUT'], serve: web(serveStorage) },
  {
    re: /^\/runtime\/artifacts\/([^/]+)\/?$/,
    label: '/runtime/artifacts/{deployment_id}',
    methods: READ,
    serve: web((s, req, m) => serveRuntimeArtifact(s, req, m[1]!)),
  },
  { re: /^\/api\/trpc\//, label: '/api/trpc/{procedure}', methods: null, serve: web((s, req) => handleTrpcRequest(s, req)) },
  { re: CONSOLE_LOGS_RE, label: '/console/apps/{app_name}/logs', methods: READ, serve: web(serveConsoleLogs) },
];

const restMethods = restRouteTable(appRouter);
const restRoute = restRouteTemplate(appRouter);

/** Paths Next.js serves: the portal's pages and server actions, and its own assets. */
export function isPortalPath(pathname: string): boolean {
  if (pathname === '/' || pathname.startsWith('/_next/') || pathname === '/favicon.ico') return true;
  if (CONSOLE_LOGS_RE.test(pathname)) return false;
  return /^\/(?:console|login)(?:\/|$)/.test(pathname);
}

/** Portal pages: read with GET, and server actions POST to them. */
const PAGES = ['GET', 'HEAD', 'POST'];

/** The methods a path serves: the `Allow` of a 405. */
export function allowedMethods(pathname: string): string[] {
  if (pathname.startsWith(`${TRPC_ENDPOINT}/`)) return trpcAllowedMethods(pathname);
  for (const r of ROUTES) if (r.methods && r.re.test(pathname)) return [...r.methods];
  if (isPortalPath(pathname)) return PAGES;
  const rest = restMethods(pathname);
  return rest.length > 0 ? rest : PAGES;
}

/**
 * Serves one API request. The request id (the caller's sane `X-Request-Id`/`X-Trace-Id`, else
 * a fresh one) and the trace id are echoed on every answer and handed on, so the handlers log
 * the same one; every answer is counted in the seed's HTTP metrics and logged once.
 */
export async function handle(services: Services, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const startedAt = performance.now();
  const pathname = pathnameOf(req.url);
  const headers = headersOf(req);
  const requestId = requestIdOf(headers);
  const traceId = traceIdOf(headers, requestId);
  req.headers[REQUEST_ID_HEADER] = requestId;
  res.setHeader(REQUEST_ID_HEADER, requestId);
  res.setHeader(TRACE_ID_HEADER, traceId);
  let match: RegExpExecArray | null = null;
  const route = ROUTES.find((r) => (match = r.re.exec(pathname)) !== null);
  const label = route?.label ?? restRoute(pathname) ?? UNMATCHED_ROUTE;
  res.once('close', () => {
    const seconds = (performance.now() - startedAt) / 1000;
    const method = req.method ?? 'GET';
    observeHttpRequest(services.metrics, { method, route: label, status: res.statusCode }, seconds);
    // A probe every few seconds at debug: the fields are only built when someone reads them.
    const level = route?.quiet ? 'debug' : 'info';
    if (!services.log.enabled(level)) return;
    const fields = { method, route: label, status: res.statusCode, took_ms: Math.round(seconds * 1000), request_id: requestId, trace_id: traceId };
    services.log[level]('request.complete', fields);
  });
  if (!route) return serveRest(services, req, res);
  if (route.methods && !route.methods.includes(req.method ?? 'GET')) return sendMethodNotAllowed(res, req.method ?? 'GET', allowedMethods(pathname));
  return route.serve(services, req, res, match!);
}

/**
 * The edge with the services still booting: liveness answers at once, everything else waits
 * for the services, and answers 503 `service_unavailable` if they cannot start (the database
 * down at boot), so the next request tries again.
 */
export function createEdge(servicesOf: () => Promise<Services>): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  let booted: Services | undefined;
  return async (req, res) => {
    if (booted) return handle(booted, req, res);
    if (/^\/healthz\/?$/.test(pathnameOf(req.url)) && (req.method === 'GET' || req.method === 'HEAD')) return serveLiveness(res);
    let services: Services;
    try {
      services = booted = await servicesOf();
    } catch {
      return sendEnvelope(res, { code: 'service_unavailable', message: 'the control plane could not start: its database or storage does not answer' }, { 'retry-after': '5' });
    }
    return handle(services, req, res);
  };
}
