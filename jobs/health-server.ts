import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveMetrics } from '../server/http/metrics';
import type { Services } from '../server/services/context';

export type WorkerState = 'starting' | 'running' | 'stopping';

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

function sendJson(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function handle(
  svc: Services,
  state: () => WorkerState,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const { pathname } = new URL(req.url ?? '/', 'http://worker');
  if (pathname !== '/healthz' && pathname !== '/metrics') {
    return sendJson(res, 404, {
      code: 'not_found',
      message: `${pathname} not found: the worker serves /healthz and /metrics`,
    });
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return sendJson(res, 405, { code: 'method_not_allowed', message: `${req.method} is not allowed on ${pathname}` });
  }
  if (pathname === '/healthz') {
    // 503 while booting or draining: the probe takes the pod out instead of restarting it mid-drain.
    const now = state();
    return sendJson(res, now === 'running' ? 200 : 503, { status: now === 'running' ? 'ok' : now });
  }
  // The web's /metrics, token rule included: only the headers matter to it.
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers.set(name, value);
  const answer = await serveMetrics(svc, new Request(`http://worker${pathname}`, { headers }));
  res.writeHead(answer.status, Object.fromEntries(answer.headers));
  res.end(req.method === 'HEAD' ? undefined : Buffer.from(await answer.arrayBuffer()));
}

/**
 * The worker process's own `/healthz` and `/metrics` on AETHER_WORKER_PORT, for the chart's
 * probes and scrapes: the workers' counters live in this process, not in the web's registry.
 */
export async function startHealthServer(
  svc: Services,
  state: () => WorkerState,
  port = svc.env.AETHER_WORKER_PORT,
): Promise<HealthServer> {
  const server = createServer((req, res) => {
    handle(svc, state, req, res).catch((err: unknown) => {
      svc.log.error('worker health endpoint failed', { err, path: req.url });
      if (!res.headersSent) sendJson(res, 500, { code: 'internal', message: 'internal error' });
      else res.destroy();
    });
  });
  // Probes are short: an idle keep-alive socket must not hold close() up.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
