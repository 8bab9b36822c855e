import type { Metrics } from '../metrics';

export interface AnsweredRequest {
  method: string;
  /** A route template (`/apps/{app_name}`), never the raw path: a label per digest or id would explode. */
  route: string;
  status: number;
}

/** The route label of a request no route matched. */
export const UNMATCHED_ROUTE = 'unmatched';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

type HttpMetrics = Pick<Metrics, 'httpRequests' | 'httpRequestDuration'>;

interface Series {
  requests: { inc(): void };
  duration: { observe(seconds: number): void };
}

/**
 * The labelled series of each (method, route, status) answered so far, per registry: prom-client
 * hashes a label object on every `inc`, which on a probe costs as much as answering it. The set
 * is bounded: routes are templates, methods a fixed list, statuses the few we answer.
 */
const seriesByMetrics = new WeakMap<HttpMetrics, Map<string, Series>>();

function seriesOf(metrics: HttpMetrics, method: string, route: string, status: number): Series {
  let byKey = seriesByMetrics.get(metrics);
  if (!byKey) seriesByMetrics.set(metrics, (byKey = new Map()));
  const key = `${method} ${status} ${route}`;
  let series = byKey.get(key);
  if (!series) {
    const outcome = status >= 500 ? 'server_error' : status >= 400 ? 'client_error' : 'success';
    series = {
      requests: metrics.httpRequests.labels({ method, path: route, status: String(status), outcome }),
      duration: metrics.httpRequestDuration.labels({ method, path: route }),
    };
    byKey.set(key, series);
  }
  return series;
}

/** Records one answered request in the seed's `http_requests_total` and `http_request_duration_seconds`. */
export function observeHttpRequest(metrics: HttpMetrics, req: AnsweredRequest, seconds: number): void {
  // A client can send any method name: the label keeps to the known ones.
  const method = METHODS.has(req.method) ? req.method : 'OTHER';
  const series = seriesOf(metrics, method, req.route, req.status);
  series.requests.inc();
  series.duration.observe(seconds);
}
