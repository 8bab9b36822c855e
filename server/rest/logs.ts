import { z } from 'zod';
import { ZLogsInput } from '../contract/schemas';
import { AppError } from '../errors';
import { errorResponse, requireRole } from '../http';
import type { LogEntry } from '../runtime/port';
import { streamAppLogs } from '../services/deployments/logs.service';
import type { Services } from '../services/context';

export const LOGS_PATH_RE = /^\/apps\/([^/]+)\/logs\/?$/;

const NDJSON = 'application/x-ndjson';

/**
 * `GET /apps/{app}/logs?tail=&follow=&since=&container=&deployment=[&format=ndjson]`: the
 * app's output as text lines, or NDJSON `{time,source,line}` (with `Accept:
 * application/x-ndjson` or `format=ndjson`). With `follow` it streams until the client goes
 * away, which stops the read at once (the runtime stops polling, the iterator is closed).
 */
export async function handleLogsRequest(services: Services, req: Request, appSegment: string): Promise<Response> {
  try {
    const appName = safeDecode(appSegment);
    await requireRole(services, req, 'reader');
    const url = new URL(req.url);
    const { format, ...query } = Object.fromEntries(url.searchParams);
    if (format !== undefined && format !== 'text' && format !== 'ndjson') throw new AppError('bad_request', 'format must be text or ndjson');
    const parsed = ZLogsInput.safeParse({ ...query, app_name: appName });
    if (!parsed.success) throw new AppError('bad_request', z.prettifyError(parsed.error));
    const ndjson = format === 'ndjson' || (format === undefined && (req.headers.get('accept') ?? '').includes(NDJSON));

    const abort = new AbortController();
    const onGone = () => abort.abort();
    req.signal.addEventListener('abort', onGone, { once: true });
    const { deploymentId, entries } = await streamAppLogs(services, { ...parsed.data, signal: abort.signal });
    const render = ndjson ? (e: LogEntry) => `${JSON.stringify(e)}\n` : (e: LogEntry) => `${e.line}\n`;
    const body = entryStream(entries, render, () => {
      abort.abort();
      req.signal.removeEventListener('abort', onGone);
    }, (err) => services.log.warn('log stream ended with error', { err }));
    return new Response(body, {
      headers: {
        'content-type': ndjson ? `${NDJSON}; charset=utf-8` : 'text/plain; charset=utf-8',
        'cache-control': 'no-store',
        // Proxies (nginx) would otherwise buffer a followed stream.
        'x-accel-buffering': 'no',
        'x-aether-deployment-id': deploymentId,
      },
    });
  } catch (err) {
    return errorResponse(services, err);
  }
}

/** Pulls entries only as fast as the client reads; closing either side ends the other. */
function entryStream(entries: AsyncIterable<LogEntry>, render: (e: LogEntry) => string, done: () => void, onError: (err: unknown) => void): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const it = entries[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await it.next();
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

// A malformed escape is left as it is: the app name check then refuses it as bad input.
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
