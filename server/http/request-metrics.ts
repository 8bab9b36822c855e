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

/** Records one answered request in the seed's `http_requests_total` and `http_request_duration_seconds`. */
export function observeHttpRequest(
  metrics: Pick<Metrics, 'httpRequests' | 'httpRequestDuration'>,
  req: AnsweredRequest,
  seconds: number,
): void {
  const outcome = req.status >= 500 ? 'server_error' : req.status >= 400 ? 'client_error' : 'success';
  // A client can send any method name: the label keeps to the known ones.
  const method = METHODS.has(req.method) ? req.method : 'OTHER';
  metrics.httpRequests.inc({ method, path: req.route, status: String(req.status), outcome });
  metrics.httpRequestDuration.observe({ method, path: req.route }, seconds);
}
