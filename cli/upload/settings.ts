import { CliError, EXIT } from '../errors';

/** The environment the uploader reads (a subset of the CLI's; all optional). */
export interface UploadEnv {
  AETHER_MULTIPART_THRESHOLD_BYTES?: string;
  AETHER_MULTIPART_PART_SIZE_BYTES?: string;
  AETHER_UPLOAD_CONCURRENCY?: string;
  XDG_CACHE_HOME?: string;
  HOME?: string;
}

export interface UploadSettings {
  /** Artifacts of at least this size go multipart; 0 means never. */
  thresholdBytes: number;
  partSizeBytes: number;
  concurrency: number;
}

const MiB = 1024 * 1024;
/** S3's limits, which both storage drivers enforce: every part but the last >= 5 MiB, <= 5 GiB, <= 10,000 parts. */
export const MIN_PART_BYTES = 5 * MiB;
const MAX_PART_BYTES = 5 * 1024 * MiB;
export const MAX_PARTS = 10_000;

function intSetting(env: UploadEnv, name: keyof UploadEnv, dflt: number, min: number, max: number, why: string): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new CliError(EXIT.usage, `${name}=${raw} is invalid: ${why}`, `unset ${name} to use the default (${dflt})`);
  }
  return n;
}

/** Reads and checks the upload settings; a bad value is a usage error (exit 2), before any request. */
export function readUploadSettings(env: UploadEnv): UploadSettings {
  return {
    thresholdBytes: intSetting(env, 'AETHER_MULTIPART_THRESHOLD_BYTES', 64 * MiB, 0, Number.MAX_SAFE_INTEGER, 'expected a byte count (0 = never multipart)'),
    partSizeBytes: intSetting(
      env,
      'AETHER_MULTIPART_PART_SIZE_BYTES',
      8 * MiB,
      MIN_PART_BYTES,
      MAX_PART_BYTES,
      `expected a byte count between ${MIN_PART_BYTES} (5 MiB, the smallest part S3 accepts) and ${MAX_PART_BYTES} (5 GiB)`,
    ),
    concurrency: intSetting(env, 'AETHER_UPLOAD_CONCURRENCY', 4, 1, 64, 'expected an integer between 1 and 64'),
  };
}

/** The part size actually used: raised when the file would otherwise need more than 10,000 parts. */
export function effectivePartSize(sizeBytes: number, partSizeBytes: number): number {
  return Math.max(partSizeBytes, Math.ceil(sizeBytes / MAX_PARTS / MiB) * MiB);
}
