import { AppError } from '../errors';

/**
 * How the S3 driver reads SDK errors. The SDK's error classes differ by operation (HeadObject
 * has no body, so a missing key is a bare `NotFound`), so we match on name and status.
 */

interface SdkErrorShape {
  name?: string;
  Code?: string;
  code?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

const shape = (err: unknown): SdkErrorShape => (typeof err === 'object' && err !== null ? (err as SdkErrorShape) : {});

/** The S3 error code (`NoSuchKey`, `InvalidPart`, ...), else the error's name. */
export function s3ErrorName(err: unknown): string | undefined {
  const e = shape(err);
  return e.Code ?? e.name;
}

export function httpStatusOf(err: unknown): number | undefined {
  return shape(err).$metadata?.httpStatusCode;
}

const TRANSIENT_NAMES = new Set([
  'TimeoutError',
  'RequestTimeout',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'InternalError',
  'ServiceUnavailable',
]);
const TRANSIENT_SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/** Worth another try: 5xx, throttling, timeouts, dropped sockets. 4xx answers are final. */
export function isTransient(err: unknown): boolean {
  const e = shape(err);
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return true;
  if (status === 429) return true;
  if (e.$retryable) return true;
  if (e.name !== undefined && TRANSIENT_NAMES.has(e.name)) return true;
  return e.code !== undefined && TRANSIENT_SOCKET_CODES.has(e.code);
}

/**
 * Runs `fn`, retrying transient failures `retries` more times after 50 ms, 100 ms, 200 ms...
 * Once they run out, a transient failure becomes `service_unavailable` (the cause kept for logs,
 * never for clients); anything else is rethrown as it is.
 */
export async function withRetry<T>(fn: () => Promise<T>, opts: { retries?: number; baseDelayMs?: number } = {}): Promise<T> {
  const retries = opts.retries ?? 3;
  const base = opts.baseDelayMs ?? 50;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransient(err)) throw err;
      if (attempt >= retries) throw unavailable(err);
      await new Promise((resolve) => setTimeout(resolve, base * 2 ** attempt));
    }
  }
}

/** Object storage did not answer usefully; the message is safe for clients. */
export function unavailable(cause: unknown): AppError {
  const err = new AppError('service_unavailable', 'object storage is unavailable');
  // As `new Error(msg, { cause })` would (AppError's constructor takes no options): not
  // enumerable, so the SDK error never rides along into a serialised envelope.
  Object.defineProperty(err, 'cause', { value: cause, enumerable: false });
  return err;
}

/**
 * Maps CompleteMultipartUpload's refusals onto the port's codes: a list that does not match what
 * was uploaded is the client's `bad_request`, an unknown (aborted, completed) upload `not_found`.
 */
export function mapCompleteError(err: unknown): unknown {
  switch (s3ErrorName(err)) {
    case 'InvalidPart':
      return new AppError('bad_request', 'a listed part was not uploaded, or its ETag does not match the uploaded part');
    case 'InvalidPartOrder':
      return new AppError('bad_request', 'the part list is not in ascending order');
    case 'EntityTooSmall':
      return new AppError('bad_request', 'every part but the last must be at least 5 MiB');
    case 'MalformedXML':
      return new AppError('bad_request', 'the part list is malformed');
    case 'NoSuchUpload':
      return new AppError('not_found', 'multipart upload not found');
    default:
      return err;
  }
}

export const isNoSuchUpload = (err: unknown): boolean => s3ErrorName(err) === 'NoSuchUpload';

/**
 * HeadObject answers a missing key with a bodiless 404 (`NotFound`); GetObject with `NoSuchKey`.
 * A missing bucket is a misconfiguration, not a missing object (where S3 lets us tell).
 */
export function isMissingObject(err: unknown): boolean {
  const name = s3ErrorName(err);
  if (name === 'NoSuchBucket') return false;
  return name === 'NoSuchKey' || name === 'NotFound' || httpStatusOf(err) === 404;
}
