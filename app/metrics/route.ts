import { getServices } from '../../server/boot';
import { serveMetrics } from '../../server/metrics-endpoint';

export const dynamic = 'force-dynamic';

export async function GET(req: Request) {
  let services;
  try {
    services = await getServices();
  } catch {
    // Without its configuration the route cannot tell whether a token is required: fail closed.
    return Response.json({ code: 'service_unavailable', message: 'control plane not initialised' }, { status: 503 });
  }
  return serveMetrics(services, req);
}
