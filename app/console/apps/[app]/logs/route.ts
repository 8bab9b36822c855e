import { z } from 'zod';
import { getServices } from '../../../../../server/boot';
import { ZLogsInput } from '../../../../../server/contract/schemas';
import { AppError } from '../../../../../server/errors';
import { errorResponse } from '../../../../../server/http';
import { logsResponse } from '../../../../../server/rest/logs';
import { safeDecode } from '../../../../../server/url-segment';
import { getPortalCaller } from '../../../../_trpc/server';

export const dynamic = 'force-dynamic';

/**
 * `GET /console/apps/{app}/logs?deployment=<id>&follow=1&tail=500`: a deployment's output
 * (`{ time, source, line }` per line) for the portal as NDJSON, authenticated by the session
 * cookie (any signed-in role may read logs, of the apps its teams own). A GET that only reads, so the cookie alone is
 * enough; the stream ends when the tab closes.
 */
export async function GET(req: Request, { params }: { params: Promise<{ app: string }> }) {
  const services = await getServices();
  try {
    const session = await getPortalCaller();
    if (!session) throw new AppError('unauthorized', 'sign in to read logs');
    const url = new URL(req.url);
    const parsed = ZLogsInput.safeParse({ ...Object.fromEntries(url.searchParams), app_name: safeDecode((await params).app) });
    if (!parsed.success) throw new AppError('bad_request', z.prettifyError(parsed.error));
    return await logsResponse({ ...services, actor: session.actor }, req, parsed.data, 'ndjson');
  } catch (err) {
    return errorResponse(services, err);
  }
}
