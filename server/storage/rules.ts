import { isDigest } from '../contract/digest';
import { AppError } from '../errors';

/**
 * Limits and checks both storage drivers apply, so that `fs` refuses exactly what S3 refuses
 * (and with the same error codes) before any bytes move.
 */

/** SigV4's longest presign: both drivers accept the same range. */
export const MAX_EXPIRES_IN_SECS = 7 * 24 * 3600;
/** S3's smallest part (every part but the last). */
export const DEFAULT_MIN_PART_BYTES = 5 * 1024 * 1024;
/** S3's largest part. */
export const MAX_PART_BYTES = 5 * 1024 ** 3;
/** S3's highest part number. */
export const MAX_PART_NUMBER = 10_000;
/** S3's largest single PUT. */
export const S3_MAX_PUT_BYTES = 5 * 1024 ** 3;
/** S3's largest object (assembled from parts). */
export const S3_MAX_OBJECT_BYTES = 5 * 1024 ** 4;

/** A part of a multipart upload as the client reports it at completion. */
export interface CompletedPart {
  partNumber: number;
  etag: string;
}

export function validateExpiresIn(expiresInSecs: number): number {
  if (!Number.isInteger(expiresInSecs) || expiresInSecs < 1 || expiresInSecs > MAX_EXPIRES_IN_SECS) {
    throw new AppError('bad_request', `expiresInSecs must be an integer in 1..${MAX_EXPIRES_IN_SECS}`);
  }
  return expiresInSecs;
}

export function validateSha256(sha256: string): string {
  if (!isDigest(sha256)) throw new AppError('bad_request', 'sha256 must be 64 lowercase hex characters');
  return sha256;
}

/** A size a URL is bound to: absent, or an integer the store can hold (size_exceeded otherwise). */
export function validateBoundSize(sizeBytes: number | undefined, max: number): void {
  if (sizeBytes === undefined) return;
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) throw new AppError('bad_request', 'sizeBytes must be a non-negative integer');
  if (sizeBytes > max) throw new AppError('size_exceeded', `${sizeBytes} bytes exceeds the store's ${max}-byte limit`);
}

export function validatePartNumber(partNumber: number): number {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
    throw new AppError('bad_request', `partNumber must be an integer in 1..${MAX_PART_NUMBER}`);
  }
  return partNumber;
}

/**
 * Checks the shape of a completion list: parts 1..n, contiguous, ascending, each with an ETag.
 * S3 itself would accept gaps (1, 3); we refuse them on both drivers because a gap always means
 * the client lost a part, and the object would silently miss its bytes.
 */
export function validatePartList(parts: readonly CompletedPart[]): void {
  if (parts.length === 0) throw new AppError('bad_request', 'the part list is empty');
  if (parts.length > MAX_PART_NUMBER) throw new AppError('bad_request', `at most ${MAX_PART_NUMBER} parts`);
  parts.forEach((part, i) => {
    if (part.partNumber !== i + 1) {
      throw new AppError('bad_request', `part list must be 1..${parts.length} in ascending order: position ${i + 1} holds part ${part.partNumber}`);
    }
    if (typeof part.etag !== 'string' || normalizeEtag(part.etag) === '') {
      throw new AppError('bad_request', `part ${part.partNumber} has no ETag`);
    }
  });
}

/** ETags travel quoted (`"abc"`) in headers and often unquoted in JSON: compare them bare. */
export function normalizeEtag(etag: string): string {
  return etag.trim().replace(/^W\//, '').replaceAll('"', '');
}
