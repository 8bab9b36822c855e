import { stat } from 'node:fs/promises';
import type { Api } from '../client';
import { CliError, EXIT } from '../errors';
import type { Output } from '../output';
import { toUploadError, type UploadCtx } from './context';
import { uploadMultipart } from './multipart';
import { createProgress, type ProgressStream } from './progress';
import { DEFAULT_RETRY, type RetryPolicy } from './retry';
import { effectivePartSize, readUploadSettings, type UploadEnv } from './settings';
import { uploadSingle } from './single';
import { createStateStore, statePath } from './state';

export type { UploadEnv } from './settings';

export interface UploadArtifactOptions {
  /** Typed control-plane client; give it the same trace id (`createApi(conn, { traceId })`). */
  api: Api;
  /** The control plane's base URL: part of the resume state (an upload id is only valid there). */
  apiBase: string;
  app: string;
  /** The packed artifact on disk. */
  file: string;
  digest: string;
  sizeBytes: number;
  /** Ed25519 signature over the digest, passed to complete. */
  signature?: string;
  env: UploadEnv;
  out: Output;
  /** The command's result format: `json` shows no progress, only real log records. */
  format: 'text' | 'json';
  /** One uuid per deploy, sent as X-Trace-Id to the control plane and to fs-driver storage URLs. */
  traceId: string;
  /** Aborting (Ctrl-C) stops the transfer and keeps the resume state for the next run. */
  signal?: AbortSignal;
  /** Retry pacing (tests make it fast); attempts count the one fresh presign after a 403. */
  retry?: Partial<RetryPolicy>;
  /** Where the progress bar goes; default process.stderr (a bar only when it is a TTY). */
  progressStream?: ProgressStream;
}

export interface UploadResult {
  /** False when the server already had the digest (stored or verifying): nothing was sent. */
  uploaded: boolean;
  method: 'single' | 'multipart' | 'none';
  /** Bytes sent in this run (a resumed upload sends only its missing parts). */
  bytes: number;
  /** The PUT phase, first PUT to last answer (presigns between parts included, init and complete not): what `upload_duration_secs` reports. */
  durationMs: number;
}

const MiB = 1024 * 1024;

/**
 * Uploads a packed artifact through presigned URLs and completes it: nothing when the server
 * has the digest already; one PUT below AETHER_MULTIPART_THRESHOLD_BYTES; otherwise a parallel,
 * resumable multipart upload. Does not wait for verification. Throws CliError (network 40).
 */
export async function uploadArtifact(opts: UploadArtifactOptions): Promise<UploadResult> {
  const settings = readUploadSettings(opts.env);
  const actual = await stat(opts.file).catch((err: Error) => {
    throw new CliError(EXIT.io, `cannot read artifact ${opts.file}: ${err.message}`);
  });
  if (actual.size !== opts.sizeBytes) throw new CliError(EXIT.io, `artifact ${opts.file} is ${actual.size} bytes, expected ${opts.sizeBytes}; pack again`);

  const multipart = settings.thresholdBytes > 0 && opts.sizeBytes >= settings.thresholdBytes;
  const progress = await createProgress({ total: opts.sizeBytes, initial: 0, format: opts.format, out: opts.out, stream: opts.progressStream ?? process.stderr });
  const ctx: UploadCtx = {
    ...opts,
    apiBase: opts.apiBase.replace(/\/+$/, ''),
    policy: { ...DEFAULT_RETRY, ...opts.retry },
    progress,
  };
  try {
    if (!multipart) {
      const r = await uploadSingle(ctx);
      progress.stop();
      return report(ctx, r.uploaded ? { uploaded: true, method: 'single', bytes: opts.sizeBytes, durationMs: r.transferMs } : none);
    }
    const partSize = effectivePartSize(opts.sizeBytes, settings.partSizeBytes);
    const store = createStateStore(statePath(opts.env, opts.digest));
    const r = await uploadMultipart(ctx, { partSize, concurrency: settings.concurrency, store });
    progress.stop();
    const detail = r.uploaded ? ` in ${r.parts} parts of ${(r.partSize / MiB).toFixed(0)} MiB, ${settings.concurrency} at a time` : '';
    return report(ctx, r.uploaded ? { uploaded: true, method: 'multipart', bytes: r.bytes, durationMs: r.transferMs } : none, detail);
  } catch (err) {
    progress.stop();
    throw toUploadError(err, opts.signal);
  }
}

const none: UploadResult = { uploaded: false, method: 'none', bytes: 0, durationMs: 0 };

function report(ctx: UploadCtx, r: UploadResult, detail = ''): UploadResult {
  if (!r.uploaded) {
    ctx.out.info(`artifact ${ctx.digest.slice(0, 12)} is already on the server; nothing to upload`);
  } else {
    const secs = r.durationMs / 1000;
    ctx.out.info(`uploaded ${(r.bytes / MiB).toFixed(1)} MiB in ${secs.toFixed(2)} s (${(r.bytes / MiB / Math.max(secs, 0.001)).toFixed(1)} MiB/s)${detail}`, {
      method: r.method,
      bytes: r.bytes,
      duration_ms: Math.round(r.durationMs),
    });
  }
  return r;
}
