import { TRPCClientError, type Operation, type OperationResultEnvelope, type TRPCLink } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import type { AppRouter } from '../server/trpc/root';
import { retryWhileUnavailable, type RetrySettings, type Unavailable } from './retry';
import { isIdempotent, parseRetryAfter } from './retry-policy';

type Envelope = OperationResultEnvelope<unknown, TRPCClientError<AppRouter>>;

/** The errno of a failure to talk to the control plane at all (the fetch's cause chain). */
function errnoOf(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function innermostMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown };
  while (e.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  return e.message ?? String(err);
}

/**
 * Which failures of `op` are worth waiting out: a 503 `service_unavailable` of an idempotent
 * call; for a query also a connection reset, or one refused by a control plane this command
 * already reached (it is restarting). A refusal at first contact fails at once: that is a
 * wrong AETHER_API_BASE or a stopped control plane more often than a blip.
 */
function classify(err: unknown, op: Operation, reached: boolean): Unavailable | null {
  if (!(err instanceof TRPCClientError)) return null;
  const data = err.data as { code?: string; httpStatus?: number } | undefined;
  const response = (
    err.meta as { response?: { status?: number; headers?: { get(name: string): string | null } } } | undefined
  )?.response;
  // By code when the server sent one: `insufficient_storage` also travels as tRPC's 503 class,
  // and a full disk is not waited out.
  if (data?.code === 'service_unavailable' || (data?.code === undefined && (data?.httpStatus ?? response?.status) === 503)) {
    return {
      what: `control plane unavailable (${err.message})`,
      retryAfterMs: parseRetryAfter(response?.headers?.get('retry-after')),
    };
  }
  if (op.type !== 'query' || data) return null;
  const errno = errnoOf(err.cause);
  if (errno === 'ECONNRESET' || (errno === 'ECONNREFUSED' && reached))
    return { what: `cannot reach the control plane (${innermostMessage(err)})` };
  return null;
}

/**
 * Retries idempotent calls (retry-policy.ts) while the control plane is unavailable. Our own:
 * tRPC's retryLink paces by attempt number alone, with no Retry-After and no time budget.
 */
export function retryLink(settings: RetrySettings): TRPCLink<AppRouter> {
  return () => {
    let reached = false;
    // Calls made together (a command's parallel reads) wait alike: say each line once.
    let last = { line: '', at: -Infinity };
    const say = (line: string) => {
      const now = performance.now();
      if (line === last.line && now - last.at < 1_500) return;
      last = { line, at: now };
      settings.say(line);
    };
    return ({ op, next }) => {
      if (op.type === 'subscription' || !isIdempotent(op.type, op.path)) return next(op);
      return observable<Envelope, TRPCClientError<AppRouter>>((observer) => {
        let unsubscribe = () => {};
        const stop = new AbortController();
        const signal = op.signal ? AbortSignal.any([op.signal, stop.signal]) : stop.signal;
        const once = () =>
          new Promise<Envelope>((resolve, reject) => {
            const sub = next(op).subscribe({
              next: (envelope) => resolve(envelope),
              error: (err) => reject(err),
            });
            unsubscribe = () => sub.unsubscribe();
          });
        // Any HTTP answer, even an error, means the control plane was there.
        const attempt = () =>
          once().then(
            (envelope) => ((reached = true), envelope),
            (err: unknown) => {
              if (err instanceof TRPCClientError && (err.data || err.meta?.response)) reached = true;
              throw err;
            },
          );
        retryWhileUnavailable(attempt, {
          settings: { ...settings, say },
          signal,
          classify: (err) => classify(err, op, reached),
        }).then(
          (envelope) => {
            observer.next(envelope);
            observer.complete();
          },
          (err: unknown) => {
            if (!stop.signal.aborted) observer.error(TRPCClientError.from(err as Error));
          },
        );
        return () => {
          stop.abort();
          unsubscribe();
        };
      });
    };
  };
}
