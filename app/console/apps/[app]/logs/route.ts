import { z } from 'zod';
import { getServices } from '../../../../../server/boot';
import { ZLogsInput } from '../../../../../server/contract/schemas';
import { AppError } from '../../../../../server/errors';
import { errorResponse } from '../../../../../server/http';
import { streamAppLogs } from '../../../../../server/services/deployments/logs.service';
import { getPortalCaller } from '../../../../_trpc/server';

export const dynamic = 'force-dynamic';

/**
 * `GET /console/apps/{app}/logs?deployment=<id>&follow=1&tail=500`: a deployment's output
 * (`{ time, source, line }` per line) for the portal as NDJSON, authenticated by the session
 * cookie (any signed-in role may read logs). A GET that only reads, so the cookie alone is
 * enough; the stream ends when the tab closes.
 */
export async function GET(req: Request, { params }: { params: Promise<{ app: string }> }) {
  const services = await getServices();
  try {
    const session = await getPortalCaller();
    if (!session) throw new AppError('unauthorized', 'sign in to read logs');
    const url = new URL(req.url);
    const parsed = ZLogsInput.safeParse({ ...Object.fromEntries(url.searchParams), app_name: decodeURIComponent((await params).app) });
    if (!parsed.success) throw new AppError('bad_request', z.prettifyError(parsed.error));
    const { deploymentId, entries } = await streamAppLogs(services, { ...parsed.data, signal: req.signal });
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        try {
          for await (const entry of entries) controller.enqueue(encoder.encode(`${JSON.stringify(entry)}\n`));
        } catch (err) {
          if (!req.signal.aborted) services.log.warn('portal log stream ended with error', { err });
        } finally {
          try {
            controller.close();
          } catch {
            // the browser went away first
          }
        }
      },
    });
    return new Response(body, {
      headers: { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store', 'x-aether-deployment-id': deploymentId },
    });
  } catch (err) {
    return errorResponse(services, err);
  }
}
