import { createHmac, timingSafeEqual } from 'node:crypto';
import { isDigest } from '../contract/digest';
import { AppError } from '../errors';
import { MAX_EXPIRES_IN_SECS } from './rules';

/**
 * Signed URLs for the embedded `fs` storage driver: the control plane plays the part S3 plays
 * for presigned requests. A URL carries its claims in the query and an HMAC-SHA256 over them,
 * so the route that serves it needs no database lookup.
 */

/** Methods a storage URL can be signed for. */
export type SignedMethod = 'PUT' | 'GET';

/** What a signature vouches for. */
export interface SignedClaims {
  method: SignedMethod;
  /** Storage key, validated with {@link validateStorageKey}. */
  key: string;
  /** Unix time in seconds; the URL is refused from this second on. */
  expiresAt: number;
  /** Lowercase hex sha256 the uploaded bytes must have (PUT of a whole object). */
  sha256?: string | null;
  /** Multipart upload a part PUT belongs to; set together with `partNumber`, PUT only. */
  uploadId?: string;
  /** 1-10000; set together with `uploadId`. */
  partNumber?: number;
  /** Exact body length a PUT must have; absent: any length up to the store's maximum. */
  sizeBytes?: number;
}

/** The path, under the control plane's base URL, that serves storage URLs. */
export const STORAGE_PATH_PREFIX = '/storage/';

const MAX_KEY_LENGTH = 512;
const SEGMENT_RE = /^[A-Za-z0-9._-]+$/;
const SIGNATURE_RE = /^[0-9a-f]{64}$/;
const EXPIRES_RE = /^[0-9]{1,15}$/;
const UPLOAD_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;
const PART_NUMBER_RE = /^[1-9][0-9]{0,4}$/;
const SIZE_RE = /^(0|[1-9][0-9]{0,15})$/;
// Versioned domain tag: a signature made for anything else (or another format) never verifies.
// v2 added the bound size.
const SIGNING_TAG = 'aether-storage-v2';

/**
 * The clock skew a checker tolerates by default (AETHER_PRESIGN_SKEW_SECS): a URL is still good
 * up to this many seconds past its `expires`, so a replica whose clock runs a few seconds ahead
 * of the signer's does not refuse a URL the signer just issued. The URL carries no issue time;
 * the only sign of a signer's clock running far ahead is an `expires` further out than any
 * lifetime we sign ({@link MAX_EXPIRES_IN_SECS}) plus the same skew, and that is refused.
 */
export const DEFAULT_CLOCK_SKEW_SECS = 30;

/** Current Unix time in whole seconds. */
export const nowEpochSecs = (): number => Math.floor(Date.now() / 1000);

/**
 * Returns the key if it is safe to map onto a file path: `/`-separated segments of
 * `[A-Za-z0-9._-]`, no `.`/`..`, no empty segment (so no leading, trailing or double `/`),
 * at most 512 characters. Throws AppError `bad_request` otherwise.
 */
export function validateStorageKey(key: string): string {
  if (key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new AppError('bad_request', `storage key must be 1-${MAX_KEY_LENGTH} characters`);
  }
  for (const segment of key.split('/')) {
    if (!SEGMENT_RE.test(segment) || segment === '.' || segment === '..') {
      throw new AppError('bad_request', 'storage key has an invalid segment');
    }
  }
  return key;
}

/** Percent-encodes each key segment, keeping the `/` separators. */
export function encodeStorageKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/** Hex HMAC-SHA256 of the claims under `secret`. */
export function signClaims(secret: Buffer, claims: SignedClaims): string {
  // Newline-separated is unambiguous: keys, methods, integers and hex never contain one.
  // Fixed arity, empty for absent fields: a part URL can never verify as a whole-object URL.
  const canonical = [
    SIGNING_TAG,
    claims.method,
    claims.key,
    String(claims.expiresAt),
    claims.sha256 ?? '',
    claims.uploadId ?? '',
    claims.partNumber === undefined ? '' : String(claims.partNumber),
    claims.sizeBytes === undefined ? '' : String(claims.sizeBytes),
  ].join('\n');
  return createHmac('sha256', secret).update(canonical).digest('hex');
}

/**
 * Checks a signature over claims, signature first so that a tampered `expires` is reported as
 * a bad signature rather than confirming anything; then the time, allowing `skewSecs` of clock
 * difference each way (see {@link DEFAULT_CLOCK_SKEW_SECS}). Throws AppError `forbidden`
 * ('signature does not match', 'URL expired' or 'URL expires too far ahead').
 */
export function verifyClaims(
  secret: Buffer,
  claims: SignedClaims,
  signature: string,
  now = nowEpochSecs(),
  skewSecs = 0,
): void {
  const expected = Buffer.from(signClaims(secret, claims), 'hex');
  // The regex guarantees 32 bytes, which timingSafeEqual needs (it throws on unequal lengths).
  const given = SIGNATURE_RE.test(signature) ? Buffer.from(signature, 'hex') : null;
  if (given === null || !timingSafeEqual(expected, given)) {
    throw new AppError('forbidden', 'signature does not match');
  }
  if (now >= claims.expiresAt + skewSecs) throw new AppError('forbidden', 'URL expired');
  if (claims.expiresAt - now > MAX_EXPIRES_IN_SECS + skewSecs) {
    throw new AppError('forbidden', "URL expires too far ahead: the signer's clock is off");
  }
}

/**
 * Builds `${baseUrl}/storage/<key>?method=..&expires=..[&sha256=..][&uploadId=..&partNumber=..][&size=..]&signature=..`.
 * Throws AppError `bad_request` for an invalid key, sha256 or part.
 */
export function signStorageUrl(baseUrl: string, secret: Buffer, claims: SignedClaims): string {
  validateStorageKey(claims.key);
  if (claims.sha256 != null && !isDigest(claims.sha256)) {
    throw new AppError('bad_request', 'sha256 must be 64 lowercase hex characters');
  }
  if (isPart(claims)) {
    if (claims.method !== 'PUT' || claims.sha256 != null) throw new AppError('bad_request', 'a part URL is a PUT without sha256');
    if (!UPLOAD_ID_RE.test(claims.uploadId) || !PART_NUMBER_RE.test(String(claims.partNumber)) || claims.partNumber > 10_000) {
      throw new AppError('bad_request', 'invalid uploadId or partNumber');
    }
  } else if (claims.uploadId !== undefined || claims.partNumber !== undefined) {
    throw new AppError('bad_request', 'uploadId and partNumber go together');
  }
  if (claims.sizeBytes !== undefined && (claims.method !== 'PUT' || !Number.isSafeInteger(claims.sizeBytes) || claims.sizeBytes < 0)) {
    throw new AppError('bad_request', 'a bound size is a non-negative integer, on a PUT');
  }
  const query = new URLSearchParams({ method: claims.method, expires: String(claims.expiresAt) });
  if (claims.sha256 != null) query.set('sha256', claims.sha256);
  if (isPart(claims)) {
    query.set('uploadId', claims.uploadId);
    query.set('partNumber', String(claims.partNumber));
  }
  if (claims.sizeBytes !== undefined) query.set('size', String(claims.sizeBytes));
  query.set('signature', signClaims(secret, claims));
  const base = baseUrl.replace(/\/+$/, '');
  return `${base}${STORAGE_PATH_PREFIX}${encodeStorageKey(claims.key)}?${query.toString()}`;
}

/**
 * Verifies a request against its signed URL and returns the claims it carries.
 * `requestMethod` is the HTTP method actually used: it must be the signed one.
 * `pathPrefix` is where storage URLs start (default `/storage/`; include the base URL's own
 * path when the control plane is mounted below `/`). `skewSecs`: see {@link verifyClaims} (default 0).
 * Throws AppError `forbidden` (bad signature, wrong method, expired) or `bad_request`
 * (malformed URL or key).
 */
export function verifyStorageUrl(
  secret: Buffer,
  request: { method: string; url: string | URL },
  opts: { now?: number; pathPrefix?: string; skewSecs?: number } = {},
): SignedClaims {
  const url = typeof request.url === 'string' ? new URL(request.url) : request.url;
  const key = keyFromPath(url.pathname, opts.pathPrefix ?? STORAGE_PATH_PREFIX);
  const q = url.searchParams;
  const method = q.get('method');
  const expires = q.get('expires');
  const signature = q.get('signature');
  const sha256 = q.get('sha256');
  const uploadId = q.get('uploadId');
  const partNumber = q.get('partNumber');
  const size = q.get('size');
  if (method !== request.method.toUpperCase() || (method !== 'PUT' && method !== 'GET')) {
    throw new AppError('forbidden', 'signature does not match');
  }
  if (expires === null || !EXPIRES_RE.test(expires) || signature === null) {
    throw new AppError('forbidden', 'signature does not match');
  }
  const claims: SignedClaims = { method, key, expiresAt: Number(expires), sha256 };
  // Only a well-formed pair is read; anything else stays absent, so the signature fails.
  if (uploadId !== null && partNumber !== null && UPLOAD_ID_RE.test(uploadId) && PART_NUMBER_RE.test(partNumber)) {
    claims.uploadId = uploadId;
    claims.partNumber = Number(partNumber);
  } else if (uploadId !== null || partNumber !== null) {
    throw new AppError('forbidden', 'signature does not match');
  }
  if (size !== null) {
    if (!SIZE_RE.test(size)) throw new AppError('forbidden', 'signature does not match');
    claims.sizeBytes = Number(size);
  }
  verifyClaims(secret, claims, signature, opts.now, opts.skewSecs);
  return claims;
}

/** A claim set for one part of a multipart upload. */
export function isPart(claims: SignedClaims): claims is SignedClaims & { uploadId: string; partNumber: number } {
  return claims.uploadId !== undefined && claims.partNumber !== undefined;
}

function keyFromPath(pathname: string, prefix: string): string {
  if (!pathname.startsWith(prefix)) throw new AppError('bad_request', 'not a storage URL');
  const segments = pathname.slice(prefix.length).split('/').map((raw) => {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      throw new AppError('bad_request', 'storage key is not valid percent-encoding');
    }
    // An encoded `/` would let two spellings name one key; there is exactly one spelling.
    if (segment.includes('/')) throw new AppError('bad_request', 'storage key has an invalid segment');
    return segment;
  });
  return validateStorageKey(segments.join('/'));
}
