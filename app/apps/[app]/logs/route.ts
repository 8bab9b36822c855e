import { z } from 'zod';
import { getServices } from '../../../../server/boot';
import { ZAppName } from '../../../../server/contract/apps';
import { AppError } from '../../../../server/errors';
import { errorResponse, requireRole } from '../../../../server/http';
import { streamAppLogs } from '../../../../server/services/deployments/logs.service';

export const dynamic = 'force-dynamic';

const ZQuery = z.object({
  app_name: ZAppName,
  deployment: z.uuid().optional(),
  tail: z.coerce.number().int().min(0).max(10_000).default(100),
  follow: z.enum(['true', 'false', '1', '0']).optional().transform((v) => v === 'true' || v === '1'),
  since: z.string().regex(/^(\d+[smhd]|\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2}))$/, 'since must be RFC 3339 or a duration like 10m').optional(),
  container: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/).optional(),
});

/** `GET /apps/{app}/logs?tail=100&follow=true[&deployment=<id>]`: the app's output as text lines. */
export async function GET(req: Request, { params }: { params: Promise<{ app: string }> }) {
  const services = await getServices();
  try {
    await requireRole(services, req, 'reader');
    const url = new URL(req.url);
    const parsed = ZQuery.safeParse({ ...Object.fromEntries(url.searchParams), app_name: (await params).app });
    if (!parsed.success) throw new AppError('bad_request', z.prettifyError(parsed.error));
    // The local runtime keeps raw output without timestamps or containers (issue 5 adds both).
    if (services.runtime.kind === 'local' && parsed.data.since) throw new AppError('not_implemented', '--since needs timestamped logs, which the local runtime does not keep yet');
    if (services.runtime.kind === 'local' && parsed.data.container && parsed.data.container !== 'app') {
      throw new AppError('not_found', `no container "${parsed.data.container}": local apps run as one process ("app")`);
    }
    const { deploymentId, lines } = await streamAppLogs(services, { ...parsed.data, deploymentId: parsed.data.deployment, signal: req.signal });
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        try {
          for await (const line of lines) controller.enqueue(encoder.encode(`${line}\n`));
        } catch (err) {
          if (!req.signal.aborted) services.log.warn('log stream ended with error', { err });
        } finally {
          try {
            controller.close();
          } catch {
            // already closed by the client going away
          }
        }
      },
    });
    return new Response(body, {
      headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-aether-deployment-id': deploymentId },
    });
  } catch (err) {
    return errorResponse(services, err);
  }
}
