import { createHash, timingSafeEqual } from 'node:crypto';
import { bearerToken } from '../auth/tokens';
import { AppError } from '../errors';
import { errorResponse } from './errors';
import type { Services } from '../services/context';

type MetricsServices = Pick<Services, 'env' | 'metrics' | 'log'>;

/**
 * `GET /metrics`: the process's Prometheus registry. With AETHER_METRICS_TOKEN set, only for
 * `Authorization: Bearer <that token>`, else 401 `unauthorized`: the series name apps, queues
 * and error rates, which is more than an anonymous caller (or a tenant's pod) should see.
 */
export async function serveMetrics(svc: MetricsServices, req: Request): Promise<Response> {
  const expected = svc.env.AETHER_METRICS_TOKEN;
  if (expected) {
    const given = bearerToken(req.headers.get('authorization'));
    if (given === null || !sameSecret(given, expected)) {
      const res = errorResponse(svc, new AppError('unauthorized', given === null ? 'missing metrics bearer token' : 'invalid metrics bearer token'));
      res.headers.set('www-authenticate', 'Bearer realm="metrics"');
      return res;
    }
  }
  const { registry } = svc.metrics;
  return new Response(await registry.metrics(), { headers: { 'content-type': registry.contentType } });
}

// Compares fixed-length digests: neither the time taken nor a length check depends on the token.
function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}
