import { TRPCClientError } from '@trpc/client';
import { apiError } from '../client';
import { CliError, EXIT, isNetworkError, toCliError } from '../errors';
import { retryHistory } from '../retry';
import type { UploadArtifactOptions } from './index';
import type { Progress } from './progress';
import { backoffMs, isAbort, isTransient, StorageHttpError, StorageNetworkError, withRetry, type RetryPolicy } from './retry';

/** What every upload step sees: one artifact, one trace id, one cancel signal. */
export type UploadCtx = Pick<UploadArtifactOptions, 'api' | 'apiBase' | 'app' | 'file' | 'digest' | 'sizeBytes' | 'signature' | 'traceId' | 'signal' | 'out'> & {
  policy: RetryPolicy;
  progress: Progress;
};

export const interrupted = () =>
  new CliError(EXIT.runtime, 'upload interrupted', 'run the same command again: a multipart upload resumes from its finished parts', 'interrupted');

/**
 * 5xx from the control plane (or no answer at all) is transient; its 4xx are decisions. A 503
 * the client's retry link already waited out for its whole budget is not retried again here.
 */
function isTransientRpc(err: unknown): boolean {
  if (retryHistory(err)) return false;
  if (isNetworkError(err)) return true;
  const status = err instanceof TRPCClientError ? (err.data as { httpStatus?: number } | undefined)?.httpStatus : undefined;
  return status !== undefined && status >= 500;
}

/**
 * One control-plane call, retried like storage requests, then mapped to a CliError carrying the
 * server's code (`already_stored`, `unknown_digest`...), so the flows can branch on `err.code`.
 */
export async function rpc<T>(ctx: UploadCtx, doing: string, fn: (opts: { signal?: AbortSignal }) => Promise<T>): Promise<T> {
  try {
    return await withRetry(() => fn({ signal: ctx.signal }), {
      policy: ctx.policy,
      signal: ctx.signal,
      decide: (err, attempt) => (isTransientRpc(err) ? backoffMs(attempt, ctx.policy) : null),
    });
  } catch (err) {
    if (isAbort(err, ctx.signal)) throw interrupted();
    throw apiError(err, doing);
  }
}

const STORAGE_HINT = 'check the network path to the object storage the control plane presigns for';

/** Maps whatever ended the upload to the CLI's exit codes: every network failure is 40. */
export function toUploadError(err: unknown, signal?: AbortSignal): CliError {
  if (err instanceof CliError) return err;
  if (isAbort(err, signal)) return interrupted();
  if (err instanceof StorageHttpError) return new CliError(isTransient(err) ? EXIT.network : EXIT.runtime, err.message);
  if (err instanceof StorageNetworkError) return new CliError(EXIT.network, err.message, STORAGE_HINT);
  if (isNetworkError(err)) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    return new CliError(EXIT.network, `cannot reach object storage: ${cause ?? (err as Error).message}`, STORAGE_HINT);
  }
  return toCliError(err);
}
