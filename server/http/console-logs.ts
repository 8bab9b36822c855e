import { z } from 'zod';
import { ZLogsInput } from '../contract/schemas';
import { AppError } from '../errors';
import { logsResponse } from './logs';
import type { Services } from '../services/context';
import { safeDecode } from '../url-segment';
import { actorFromCookie } from './auth';
import { errorResponse } from './errors';

export const CONSOLE_LOGS_RE = /^\/console\/apps\/([^/]+)\/logs\/?$/;

/**
 * `GET /console/apps/{app}/logs?deployment=<id>&follow=1&tail=500`: a deployment's output
 * (`{ time, source, line }` per line) for the portal as NDJSON, authenticated by the session
 * cookie (any signed-in role may read logs of the apps its teams own). A GET that only reads,
 * so the cookie alone is enough; the stream ends when the tab closes.
 */
export async function serveConsoleLogs(services: Services, req: Request, match: RegExpExecArray): Promise<Response> {
  try {
    const { actor, authError } = await actorFromCookie(services, req);
    if (!actor) throw authError ?? new AppError('unauthorized', 'sign in to read logs');
    const url = new URL(req.url);
    const parsed = ZLogsInput.safeParse({ ...Object.fromEntries(url.searchParams), app_name: safeDecode(match[1]!) });
    if (!parsed.success) throw new AppError('bad_request', z.prettifyError(parsed.error));
    return await logsResponse({ ...services, actor }, req, parsed.data, 'ndjson');
  } catch (err) {
    return errorResponse(services, err);
  }
}
