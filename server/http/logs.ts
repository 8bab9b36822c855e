import { z } from 'zod';
import { logsQueryOf, ZLogsInput } from '../contract/schemas';
import { AppError } from '../errors';
import { requireRole } from './auth';
import { errorResponse } from './errors';
import type { Actor } from '../auth/roles';
import type { LogEntry } from '../runtime/port';
import { streamAppLogs } from '../services/deployments/logs.service';
import type { Services } from '../services/context';
import { safeDecode } from '../url-segment';

export const LOGS_PATH_RE = /^\/apps\/([^/]+)\/logs\/?$/;

const NDJSON = 'application/x-ndjson';

/**
 * `GET /apps/{app}/logs?tail=(or tail_lines=)&follow=&since=&container=&deployment=&instance=[&format=ndjson]`:
 * the app's output as text lines, or NDJSON `{time,source,line,instance}` (with `Accept:
 * application/x-ndjson` or `format=ndjson`). With `follow` it streams until the client goes
 * away, which stops the read at once (the runtime stops polling, the iterator is closed).
 */
export async function handleLogsRequest(services: Services, req: Request, appSegment: string): Promise<Response> {
  try {
    const appName = safeDecode(appSegment);
    const actor = await requireRole(services, req, 'reader');
    const url = new URL(req.url);
    const { format, ...query } = logsQueryOf(Object.fromEntries(url.searchParams));
    if (format !== undefined && format !== 'text' && format !== 'ndjson') throw new AppError('bad_request', 'format must be text or ndjson');
    const parsed = ZLogsInput.safeParse({ ...query, app_name: appName });
    if (!parsed.success) throw new AppError('bad_request', z.prettifyError(parsed.error));
    const ndjson = format === 'ndjson' || (format === undefined && (req.headers.get('accept') ?? '').includes(NDJSON));
    return await logsResponse({ ...services, actor }, req, parsed.data, ndjson ? 'ndjson' : 'text', {
      // Proxies (nginx) would otherwise buffer a followed stream.
      'x-accel-buffering': 'no',
    });
  } catch (err) {
    return errorResponse(services, err);
  }
}

/** How long a response waits for the first line: a runtime that fails, fails within it. */
const FIRST_ENTRY_WAIT_MS = 300;

/**
 * A streamed logs response for already validated input (the REST route and the portal's), as
 * `services.actor` may read it: another team's app is `not_found`.
 * Waits briefly for the first entry, so a runtime error (an API server refusing, a pod gone)
 * becomes an error status instead of an empty 200; a quiet followed app still gets its
 * headers at once. Then streams as fast as the client reads, until either side goes away.
 */
export async function logsResponse(
  services: Services & { actor: Actor },
  req: Request,
  input: z.output<typeof ZLogsInput>,
  format: 'text' | 'ndjson',
  extraHeaders: Record<string, string> = {},
): Promise<Response> {
  const abort = new AbortController();
  const onGone = () => abort.abort();
  req.signal.addEventListener('abort', onGone, { once: true });
  const done = () => {
    abort.abort();
    req.signal.removeEventListener('abort', onGone);
  };
  try {
    const { deploymentId, entries } = await streamAppLogs(services, { ...input, signal: abort.signal });
    const it = entries[Symbol.asyncIterator]();
    const first = it.next();
    first.catch(() => {}); // raced below; a late failure is reported by the stream
    await Promise.race([first, new Promise((r) => setTimeout(r, FIRST_ENTRY_WAIT_MS))]);
    const render = format === 'ndjson' ? (e: LogEntry) => `${JSON.stringify(e)}\n` : (e: LogEntry) => `${e.line}\n`;
    const body = entryStream(it, first, render, done, (err) => services.log.warn('log stream ended with error', { err }));
    return new Response(body, {
      headers: {
        'content-type': format === 'ndjson' ? `${NDJSON}; charset=utf-8` : 'text/plain; charset=utf-8',
        'cache-control': 'no-store',
        'x-aether-deployment-id': deploymentId,
        ...extraHeaders,
      },
    });
  } catch (err) {
    done();
    throw err;
  }
}

/** Pulls entries only as fast as the client reads; closing either side ends the other. */
function entryStream(
  it: AsyncIterator<LogEntry>,
  first: Promise<IteratorResult<LogEntry>>,
  render: (e: LogEntry) => string,
  done: () => void,
  onError: (err: unknown) => void,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let pending: Promise<IteratorResult<LogEntry>> | null = first;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      // Next sends the headers with the first chunk: without this, a quiet followed app's
      // client would wait for its first line to learn the answer at all.
      controller.enqueue(new Uint8Array(0));
    },
    async pull(controller) {
      try {
        const next = await (pending ?? it.next());
        pending = null;
        if (next.done) {
          done();
          controller.close();
        } else controller.enqueue(encoder.encode(render(next.value)));
      } catch (err) {
        onError(err);
        done();
        controller.close();
      }
    },
    async cancel() {
      done();
      await it.return?.();
    },
  });
}
