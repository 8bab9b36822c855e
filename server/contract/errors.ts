/**
 * The one error table. Every failure that reaches a client carries one of these codes:
 * REST renders `{ code, message }` with `httpStatus`, tRPC carries it in `error.data.code`,
 * and the CLI maps it to an exit code. Pure: the CLI imports this file.
 */
export const ERROR_TABLE = {
  bad_request: { httpStatus: 400 },
  missing_digest: { httpStatus: 400 },
  invalid_digest: { httpStatus: 400 },
  digest_mismatch: { httpStatus: 400 },
  digest_mismatch_remote: { httpStatus: 400 },
  digest_mismatch_remote_hash: { httpStatus: 400 },
  size_mismatch: { httpStatus: 400 },
  size_exceeded: { httpStatus: 400 },
  presign_required: { httpStatus: 400 },
  unknown_digest: { httpStatus: 400 },
  upload_id_mismatch: { httpStatus: 400 },
  unauthorized: { httpStatus: 401 },
  forbidden: { httpStatus: 403 },
  quota_exceeded: { httpStatus: 403 },
  not_found: { httpStatus: 404 },
  method_not_allowed: { httpStatus: 405 },
  request_timeout: { httpStatus: 408 },
  conflict: { httpStatus: 409 },
  idempotency_conflict: { httpStatus: 409 },
  already_stored: { httpStatus: 409 },
  payload_too_large: { httpStatus: 413 },
  unsupported_media_type: { httpStatus: 415 },
  request_header_fields_too_large: { httpStatus: 431 },
  internal: { httpStatus: 500 },
  not_implemented: { httpStatus: 501 },
  multipart_unsupported: { httpStatus: 501 },
  service_unavailable: { httpStatus: 503 },
  /** The fs store's disk (or quota) is full: nothing of the upload was kept; retry once space is freed. */
  insufficient_storage: { httpStatus: 507 },
} as const satisfies Record<string, { httpStatus: number }>;

export type ErrorCode = keyof typeof ERROR_TABLE;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_TABLE, value);
}

export function httpStatusOf(code: ErrorCode): number {
  return ERROR_TABLE[code].httpStatus;
}

/** The body of every REST error response. */
export interface ErrorEnvelope {
  code: ErrorCode;
  message: string;
}

/** A validation issue as zod reports it (and trpc-to-openapi passes on). */
export interface IssueLike {
  code?: string;
  path?: ReadonlyArray<PropertyKey>;
  message?: string;
}

/**
 * The code for refused input: `invalid_digest` when a digest was given but malformed (the
 * seed's code for it on presign, complete, multipart and deployments), else `bad_request`.
 * A digest left out is a plain `bad_request`.
 */
export function validationCodeOf(issues: ReadonlyArray<IssueLike>): 'invalid_digest' | 'bad_request' {
  const malformedDigest = issues.some(
    (i) => i.path?.at(-1) === 'digest' && !(i.code === 'invalid_type' && /received undefined/.test(i.message ?? '')),
  );
  return malformedDigest ? 'invalid_digest' : 'bad_request';
}
