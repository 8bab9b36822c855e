import type { Readable } from 'node:stream';

/** What the store knows about an object, read back without trusting the uploader. */
export interface ObjectInfo {
  sizeBytes: number;
  /** sha256 declared by the uploader (`x-amz-meta-sha256`), if any. */
  declaredSha256: string | null;
  /** sha256 the store computed itself while writing, when the driver can (fs driver: always). */
  computedSha256: string | null;
}

export interface PresignedRequest {
  url: string;
  method: 'PUT' | 'GET';
  /** Headers the client must send with the request, exactly. */
  headers: Record<string, string>;
  expiresAt: Date;
}

/** The largest objects a store accepts, so an upload too big for it is refused before it starts. */
export interface StoreLimits {
  /** Largest body of one presigned PUT (S3: 5 GiB). */
  maxPutBytes: number;
  /** Largest object, multipart included (S3: 5 TiB). */
  maxObjectBytes: number;
}

/**
 * Object storage port. Keys are content-addressed by the caller
 * (`artifacts/<app>/<sha256>/app.tar.gz`); drivers never invent keys.
 */
export interface StorageDriver {
  readonly kind: 'fs' | 's3';
  readonly limits: StoreLimits;
  /**
   * A presigned PUT of the whole object. With `sizeBytes`, the signature covers the length: a
   * body of any other length is refused (fs: Content-Length checked up front and bytes counted
   * as they arrive, nothing kept; S3: Content-Length is a signed header).
   */
  presignPut(key: string, opts: { sha256: string; expiresInSecs: number; sizeBytes?: number }): Promise<PresignedRequest>;
  presignGet(key: string, opts: { expiresInSecs: number }): Promise<PresignedRequest>;
  /** null when the object does not exist. */
  head(key: string): Promise<ObjectInfo | null>;
  /**
   * Drivers that write temp files (fs) delete those idle for `idleMs`, left by a process killed
   * mid-upload, and say how many. S3 keeps no temp objects; its unfinished multipart uploads are
   * aborted by the pending-upload GC.
   */
  sweepPartials?(idleMs: number): Promise<number>;
  /**
   * Writes a whole object from bytes the server itself holds (the legacy direct upload), stored
   * exactly as a presigned PUT would store it: `application/gzip`, metadata `sha256`, and SSE on
   * S3. `body` must yield exactly `sizeBytes` bytes; a shorter or longer body is refused and
   * nothing replaces the key. An existing object is replaced atomically. The fs driver hashes
   * what it writes (that is its `computedSha256`) and refuses any other sha256 with
   * `digest_mismatch`; S3 cannot, so verification catches that there. Not retried: a stream
   * cannot be replayed, so the caller (who holds the bytes) calls again.
   */
  putObject(key: string, body: AsyncIterable<Uint8Array>, opts: { sha256: string; sizeBytes: number }): Promise<void>;
  /** Streams the object; throws AppError not_found when it does not exist. */
  openRead(key: string): Promise<Readable>;
  delete(key: string): Promise<void>;

  // ---- multipart: large artifacts uploaded in parts, each through its own presigned PUT ----

  /**
   * Starts a multipart upload for `key`, declaring the whole object's sha256 and, when the
   * uploader knows it, the layout of its parts (the fs driver then writes parts in place; S3
   * needs no hint). Parts that do not fit the layout are still accepted. `sizeBytes` (implied by
   * a layout) is the whole object's declared size: the fs driver refuses a part that would make
   * the upload hold more (`payload_too_large`); S3 has no such check, completion's size check
   * catches it there.
   */
  createMultipart(key: string, opts: { sha256: string; layout?: PartLayout; sizeBytes?: number }): Promise<{ uploadId: string }>;
  /**
   * A presigned PUT for one part (1-10000). Each part but the last must be >= 5 MiB (S3's rule,
   * both drivers). The PUT's response carries the part's `ETag` header: hand it back, quoted or
   * not, to {@link StorageDriver.completeMultipart}. With `sizeBytes`, the part's length is bound
   * as a whole PUT's is.
   */
  presignPart(key: string, opts: { uploadId: string; partNumber: number; expiresInSecs: number; sizeBytes?: number }): Promise<PresignedRequest>;
  /**
   * Assembles the parts into the object. `parts` must be exactly 1..n in ascending order (both
   * drivers refuse gaps, which S3 alone would accept). Throws AppError `bad_request` for a part
   * list that does not match what was uploaded (missing part, wrong ETag, out of order, a short
   * part before the last) and `not_found` for an unknown, aborted or completed upload id. A
   * refused completion leaves the upload open, as on S3: retry with the right list, or abort.
   * The fs driver also hashes the assembly and refuses a sha256 other than the declared one
   * (`digest_mismatch`); S3 cannot, so verification catches that there.
   */
  completeMultipart(key: string, opts: { uploadId: string; parts: Array<{ partNumber: number; etag: string }> }): Promise<void>;
  /** Discards an unfinished upload and its parts; unknown or finished uploads are fine. */
  abortMultipart(key: string, opts: { uploadId: string }): Promise<void>;
}

/** The object's size and the size of every part but the last, as the uploader cut them. */
export interface PartLayout {
  sizeBytes: number;
  partSizeBytes: number;
}
