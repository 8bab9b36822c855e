import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Readable } from 'node:stream';
import { AppError } from '../errors';
import type { PresignedRequest, StorageDriver } from './port';
import {
  MAX_PART_BYTES,
  normalizeEtag,
  S3_MAX_OBJECT_BYTES,
  S3_MAX_PUT_BYTES,
  validateBoundSize,
  validateExpiresIn,
  validatePartList,
  validatePartNumber,
  validateSha256,
} from './rules';
import { isMissingObject, isNoSuchUpload, mapCompleteError, withRetry } from './s3-errors';
import { validateStorageKey } from './url-signing';

/** Options of {@link createS3Storage}. */
export interface S3StorageOptions {
  bucket: string;
  /** Custom endpoint (MinIO, fauxqs...); switches to path-style addressing. Unset for AWS. */
  endpoint?: string;
  region: string;
  /** Server-side encryption requested on every write (PUT and multipart create). */
  sse?: 'AES256' | 'aws:kms';
  /** KMS key for `sse: 'aws:kms'`; the bucket's AWS-managed key when unset. */
  kmsKeyId?: string;
  /** Static credentials (tests); the AWS default chain when unset. Never logged. */
  credentials?: S3ClientConfig['credentials'];
  /** Attempts per SDK call, its own retries included (SDK default 3). */
  maxAttempts?: number;
}

/** The S3 driver; `close()` releases its sockets. */
export interface S3Storage extends StorageDriver {
  readonly kind: 's3';
  close(): void;
}

const CONTENT_TYPE = 'application/gzip';
// S3 upload ids are opaque; an empty one would turn `?uploadId=` into a plain object request
// (an abort into a DELETE of the object), so anything blank or with whitespace is refused.
const UPLOAD_ID_RE = /^\S{1,1024}$/;
/** The object metadata field that carries the uploader's sha256 (`x-amz-meta-sha256`). */
const SHA256_META = 'sha256';

/**
 * Passes `body` through and calls `refuse` when it runs past or stops short of `sizeBytes`.
 * The stream itself ends quietly: an error inside it would not reach the SDK (it pipes the body,
 * and pipe does not forward errors), and a body shorter than its Content-Length would leave the
 * request waiting for bytes that never come. `refuse` aborts the request instead.
 */
async function* exactly(body: AsyncIterable<Uint8Array>, sizeBytes: number, refuse: (err: AppError) => void): AsyncGenerator<Uint8Array> {
  let seen = 0;
  for await (const chunk of body) {
    seen += chunk.byteLength;
    if (seen > sizeBytes) break;
    yield chunk;
  }
  if (seen !== sizeBytes) refuse(new AppError('bad_request', `object body ${seen > sizeBytes ? 'exceeds' : 'is shorter than'} the declared ${sizeBytes} bytes`));
}

/**
 * The `s3` driver: real presigned URLs against S3 or an S3-compatible store. The uploader's
 * sha256 travels as object metadata; S3 does not hash it for us, so `computedSha256` is always
 * null and verification relies on size, metadata and (optionally) a full download.
 */
export function createS3Storage(opts: S3StorageOptions): S3Storage {
  if (opts.kmsKeyId !== undefined && opts.sse !== 'aws:kms') throw new Error('an SSE KMS key needs sse aws:kms');
  const { bucket } = opts;
  const client = new S3Client({
    region: opts.region,
    endpoint: opts.endpoint,
    // Custom endpoints rarely resolve `<bucket>.<host>`; path style always works there.
    forcePathStyle: opts.endpoint !== undefined,
    credentials: opts.credentials,
    maxAttempts: opts.maxAttempts,
    // Checksums only where S3 demands them: otherwise the SDK adds CRC32 trailers (aws-chunked
    // bodies) that local S3 implementations store verbatim or reject.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // An unreachable or stalled store fails the call (a 503 for a request, a retry for a job)
    // instead of holding it forever; idle, not total, so a long artifact download may go on.
    requestHandler: { connectionTimeout: 5000, socketTimeout: 30_000 },
  });

  const sseInput = {
    ...(opts.sse ? { ServerSideEncryption: opts.sse } : {}),
    ...(opts.kmsKeyId ? { SSEKMSKeyId: opts.kmsKeyId } : {}),
  } as const;
  // The same headers, as the uploader must send them on a presigned PUT.
  const sseHeaders: Record<string, string> = {
    ...(opts.sse ? { 'x-amz-server-side-encryption': opts.sse } : {}),
    ...(opts.kmsKeyId ? { 'x-amz-server-side-encryption-aws-kms-key-id': opts.kmsKeyId } : {}),
  };

  type SignOptions = NonNullable<Parameters<typeof getSignedUrl>[2]>;

  /** `sign` presigns one concrete command (the SDK's command types do not mix in a union). */
  async function presigned(
    method: 'PUT' | 'GET',
    expiresInSecs: number,
    headers: Record<string, string>,
    sign: (options: SignOptions) => Promise<string>,
  ): Promise<PresignedRequest> {
    const expiresAt = new Date(Date.now() + expiresInSecs * 1000);
    // Metadata would otherwise be hoisted into the query, where some stores ignore it; as a
    // signed header the upload is refused unless the client sends exactly this value.
    // (The presigner keeps x-amz-server-side-encryption* as headers on its own.)
    const url = await sign({ expiresIn: expiresInSecs, unhoistableHeaders: new Set([`x-amz-meta-${SHA256_META}`]) });
    return { url, method, headers, expiresAt };
  }

  return {
    kind: 's3',
    limits: { maxPutBytes: S3_MAX_PUT_BYTES, maxObjectBytes: S3_MAX_OBJECT_BYTES },
    async presignPut(key, { sha256, expiresInSecs, sizeBytes }) {
      validateStorageKey(key);
      validateSha256(sha256);
      validateExpiresIn(expiresInSecs);
      validateBoundSize(sizeBytes, S3_MAX_PUT_BYTES);
      // ContentLength becomes a signed header: S3 refuses a body of any other length.
      const command = new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        ContentLength: sizeBytes,
        ContentType: CONTENT_TYPE,
        Metadata: { [SHA256_META]: sha256 },
        ...sseInput,
      });
      const headers = { 'content-type': CONTENT_TYPE, [`x-amz-meta-${SHA256_META}`]: sha256, ...sseHeaders };
      return presigned('PUT', expiresInSecs, headers, (o) => getSignedUrl(client, command, o));
    },

    async presignGet(key, { expiresInSecs }) {
      validateStorageKey(key);
      validateExpiresIn(expiresInSecs);
      const command = new GetObjectCommand({ Bucket: bucket, Key: key });
      return presigned('GET', expiresInSecs, {}, (o) => getSignedUrl(client, command, o));
    },

    async head(key) {
      validateStorageKey(key);
      try {
        const out = await withRetry(() => client.send(new HeadObjectCommand({ Bucket: bucket, Key: key })));
        return { sizeBytes: out.ContentLength ?? 0, declaredSha256: out.Metadata?.[SHA256_META] ?? null, computedSha256: null };
      } catch (err) {
        if (isMissingObject(err)) return null;
        throw err;
      }
    },

    async putObject(key, body, { sha256, sizeBytes }) {
      validateStorageKey(key);
      validateSha256(sha256);
      if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) throw new AppError('bad_request', 'sizeBytes must be a non-negative integer');
      const aborter = new AbortController();
      let refusal: AppError | null = null;
      const refuse = (err: AppError) => {
        refusal = err;
        aborter.abort(err);
      };
      // ContentLength lets the SDK stream the body as-is (S3 refuses a PUT of unknown length);
      // headers and SSE are those a presigned PUT carries, so both paths store the same object.
      const command = new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: Readable.from(exactly(body, sizeBytes, refuse)),
        ContentLength: sizeBytes,
        ContentType: CONTENT_TYPE,
        Metadata: { [SHA256_META]: sha256 },
        ...sseInput,
      });
      try {
        await client.send(command, { abortSignal: aborter.signal });
      } catch (err) {
        throw refusal ?? err;
      }
    },

    async openRead(key) {
      validateStorageKey(key);
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        // In Node the SDK's body is an IncomingMessage (a Readable) with SDK mixins.
        if (!(out.Body instanceof Readable)) throw new Error('S3 GetObject returned no Node stream');
        return out.Body;
      } catch (err) {
        if (isMissingObject(err)) throw new AppError('not_found', 'object not found');
        throw err;
      }
    },

    async delete(key) {
      validateStorageKey(key);
      // S3 answers 204 for a missing key too: delete is idempotent without special cases.
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },

    async createMultipart(key, { sha256 }) {
      validateStorageKey(key);
      validateSha256(sha256);
      const out = await client.send(
        new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: CONTENT_TYPE, Metadata: { [SHA256_META]: sha256 }, ...sseInput }),
      );
      if (!out.UploadId) throw new Error('S3 CreateMultipartUpload returned no UploadId');
      return { uploadId: out.UploadId };
    },

    async presignPart(key, { uploadId, partNumber, expiresInSecs, sizeBytes }) {
      validateStorageKey(key);
      if (!UPLOAD_ID_RE.test(uploadId)) throw new AppError('bad_request', 'invalid uploadId');
      validatePartNumber(partNumber);
      validateExpiresIn(expiresInSecs);
      validateBoundSize(sizeBytes, MAX_PART_BYTES);
      // SSE-S3/KMS is fixed at create; S3 refuses those headers on UploadPart.
      const command = new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, ContentLength: sizeBytes });
      return presigned('PUT', expiresInSecs, {}, (o) => getSignedUrl(client, command, o));
    },

    async completeMultipart(key, { uploadId, parts }) {
      validateStorageKey(key);
      // Checked here too so that both drivers refuse the same lists (S3 would accept gaps).
      validatePartList(parts);
      if (!UPLOAD_ID_RE.test(uploadId)) throw new AppError('not_found', 'multipart upload not found');
      const Parts = parts.map((p) => ({ PartNumber: p.partNumber, ETag: `"${normalizeEtag(p.etag)}"` }));
      try {
        await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts } }));
      } catch (err) {
        throw mapCompleteError(err);
      }
    },

    async abortMultipart(key, { uploadId }) {
      validateStorageKey(key);
      if (!UPLOAD_ID_RE.test(uploadId)) return;
      try {
        await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
      } catch (err) {
        if (!isNoSuchUpload(err)) throw err;
      }
    },

    close() {
      client.destroy();
    },
  };
}
