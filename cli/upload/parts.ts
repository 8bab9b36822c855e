import { setMaxListeners } from 'node:events';
import { CliError, EXIT } from '../errors';
import type { UploadCtx } from './context';
import { PartUrls, type PresignedBatch } from './part-urls';
import { putRange } from './put';
import { backoffMs, isTransient, StorageHttpError, withRetry } from './retry';
import type { StateStore, UploadState } from './state';

export function partRange(state: UploadState, sizeBytes: number, n: number): { start: number; length: number } {
  const start = (n - 1) * state.part_size;
  return { start, length: Math.min(state.part_size, sizeBytes - start) };
}

/**
 * One part: its first attempt uses the URL batch-presigned ahead; every retry presigns anew (a
 * URL never waits through a backoff until it expires). Retried with backoff on network errors
 * and 5xx; a 403 earns one immediate fresh presign. `onPut` runs as each PUT starts.
 */
async function uploadPart(ctx: UploadCtx, state: UploadState, urls: PartUrls, n: number, onPut: () => void): Promise<string> {
  const { start, length } = partRange(state, ctx.sizeBytes, n);
  let represigned = false;
  let attempt = 0;
  return withRetry(
    async () => {
      const url = await urls.get(n, attempt++ > 0);
      onPut();
      const etag = await putRange(url, ctx.file, start, length, { traceId: ctx.traceId, signal: ctx.signal, onBytes: ctx.progress.add });
      if (!etag) throw new CliError(EXIT.runtime, `storage accepted part ${n} without an ETag`, 'a proxy in front of the storage may strip response headers');
      return etag;
    },
    {
      policy: ctx.policy,
      signal: ctx.signal,
      decide(err, attempt) {
        if (err instanceof StorageHttpError && err.status === 403 && !represigned) {
          represigned = true;
          return 0;
        }
        return isTransient(err) ? backoffMs(attempt, ctx.policy) : null;
      },
    },
  );
}

/**
 * Uploads the parts the state lacks, `concurrency` at a time, saving the state after each, with
 * part URLs presigned `concurrency` at a time, one batch ahead. The first failure stops the others;
 * every worker has settled when this returns or throws, so no late save can overwrite a newer
 * state. `presigned`: the first batch's URLs when the init brought them. Resolves with the PUT
 * phase's duration, first PUT to last part.
 */
export async function uploadMissingParts(ctx: UploadCtx, state: UploadState, store: StateStore, concurrency: number, presigned?: PresignedBatch): Promise<number> {
  const count = Math.ceil(ctx.sizeBytes / state.part_size);
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((n) => !state.parts[n]);
  const stop = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, stop.signal]) : stop.signal;
  // Every presign and PUT listens on it, and fetch drops its listener only at GC: no leak, no warning.
  setMaxListeners(0, signal);
  const partCtx: UploadCtx = { ...ctx, signal };
  const urls = new PartUrls(partCtx, state, missing, Math.max(1, concurrency), presigned);
  const failures: unknown[] = [];
  let next = 0;
  let firstPut = Infinity;
  let lastDone = -Infinity;
  const onPut = () => void (firstPut = Math.min(firstPut, performance.now()));

  const worker = async () => {
    while (next < missing.length && !signal.aborted) {
      const n = missing[next++]!;
      try {
        state.parts[n] = await uploadPart(partCtx, state, urls, n, onPut);
        lastDone = performance.now();
        await store.save(state);
      } catch (err) {
        failures.push(err);
        stop.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, missing.length) }, worker));
  // Ctrl-C between parts: no part failed, but the upload is not done.
  if (failures.length === 0 && ctx.signal?.aborted) failures.push(ctx.signal.reason);
  // The first failure is the cause; the rest are siblings it stopped.
  if (failures.length > 0) throw failures[0];
  return missing.length > 0 ? lastDone - firstPut : 0;
}
