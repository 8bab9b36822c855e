import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../support/artifacts';
import { callFace, type Face, type FaceCall, type Op, type TokenSpec } from '../support/faces';
import { MAX_CONFIG_VARS } from '../../server/contract/config';
import { startTestPlane, TOKEN_ENTRIES, type DbKind, type TestPlane } from '../support/harness';
import { headsOf, planeState } from '../support/plane-state';

/**
 * Bad input, over both faces (REST at the seed's paths and tRPC over HTTP): every case answers
 * its exact status and error code, never a 5xx, and leaves no row, no event and no object (nor
 * a config version, a moved config pointer or a team). Config refusals name the variable and
 * never echo a value.
 *
 * Several rows were bugs when this table was written (trpc-to-openapi coercing JSON bodies in
 * place, a 415 reported as `internal`, 0-byte artifacts accepted); they guard the fixes now.
 */

const APP = 'bad';
/** A second app for cases that would change the first one if they were wrongly accepted. */
const COERCE_APP = 'coerce';
const MAX_SIZE = 1_000_000;
/** A digest nothing was ever uploaded for. */
const G = 'e'.repeat(64);
/** Pending single-PUT artifact of APP: presigned for 100 bytes, nothing uploaded. */
const P = sha256(Buffer.from('bad-input: pending fixture'));
/** Pending multipart upload of APP (100 bytes declared), part 1 uploaded. */
const M = sha256(Buffer.from('bad-input: multipart fixture'));
const uniq = (n: number) => n.toString(16).padStart(2, '0').repeat(32);
/** An app already holding the most variables an app may hold. */
const FULL_APP = 'full';
/** An app of team-b, which the team-a token must not see. */
const OTHER_TEAM_APP = 'other-app';
/** A deployer limited to team-a, as a bearer token and as the portal's session cookie. */
const LIMITED = 'limited-deployer-token-0001';
const LIMITED_BEARER: TokenSpec = { bearer: LIMITED };
const LIMITED_COOKIE: TokenSpec = { cookie: LIMITED };
/** A value no message may echo. */
const VALUE = `value-${randomBytes(8).toString('hex')}`;
const LONG_NAME = `V${'A'.repeat(255)}`;

interface Fixtures {
  /** The multipart upload id of M. */
  U: string;
  /** The ETag of M's part 1. */
  E: string;
}

type Expect = [status: number, code: string];

interface Case {
  name: string;
  op: Op;
  input?: unknown;
  /** Inputs that need the fixtures' runtime values. */
  inputOf?: (f: Fixtures) => unknown;
  raw?: string;
  contentType?: string | null;
  token?: TokenSpec;
  expect: Expect;
  /** Per-face answers where the faces legitimately differ; 'skip' where a face has no such request. */
  rest?: Expect | 'skip';
  trpc?: Expect | 'skip';
  /** Also run on PGlite (the smaller subset). */
  pglite?: boolean;
  /** The error message must name this (the variable, the setting, the team). */
  names?: string;
  /** Values the error message must never echo. */
  secretValues?: string[];
}

const presign = (over: Record<string, unknown> = {}) => ({ app_name: APP, digest: G, size_bytes: 100, ...over });
const complete = (over: Record<string, unknown> = {}) => ({ app_name: APP, digest: P, size_bytes: 100, ...over });
const part = (over: Record<string, unknown> = {}) => (f: Fixtures) => ({ app_name: APP, digest: M, upload_id: f.U, part_number: 2, ...over });
const mComplete = (over: Record<string, unknown> = {}) => (f: Fixtures) => ({
  app_name: APP,
  digest: M,
  upload_id: f.U,
  size_bytes: 100,
  parts: [{ part_number: 1, etag: f.E }],
  ...over,
});
const sig = (s: string) => complete({ signature: s });
const cfg = (over: Record<string, unknown>) => ({ app_name: APP, ...over });

const BAD: Expect = [400, 'bad_request'];
/** The seed's code for a digest given but malformed (a missing one is a plain bad_request). */
const INVALID_DIGEST: Expect = [400, 'invalid_digest'];
const NOT_FOUND: Expect = [404, 'not_found'];
const UNAUTHORIZED: Expect = [401, 'unauthorized'];
const FORBIDDEN: Expect = [403, 'forbidden'];

const CASES: Case[] = [
  // ---- presign: digests
  { name: 'presign: missing digest', op: 'presign', input: { app_name: APP, size_bytes: 1 }, expect: BAD, pglite: true },
  { name: 'presign: short digest', op: 'presign', input: presign({ digest: 'abc' }), expect: INVALID_DIGEST, pglite: true },
  { name: 'presign: 63-char digest', op: 'presign', input: presign({ digest: 'a'.repeat(63) }), expect: INVALID_DIGEST },
  { name: 'presign: 65-char digest', op: 'presign', input: presign({ digest: 'a'.repeat(65) }), expect: INVALID_DIGEST },
  { name: 'presign: non-hex digest', op: 'presign', input: presign({ digest: 'g'.repeat(64) }), expect: INVALID_DIGEST },
  { name: 'presign: uppercase digest', op: 'presign', input: presign({ digest: 'A'.repeat(64) }), expect: INVALID_DIGEST, pglite: true },
  { name: 'presign: "sha256:"-prefixed digest', op: 'presign', input: presign({ digest: `sha256:${G}` }), expect: INVALID_DIGEST },
  { name: 'presign: numeric digest', op: 'presign', input: presign({ digest: 123 }), expect: INVALID_DIGEST },
  // ---- presign: sizes
  { name: 'presign: negative size', op: 'presign', input: presign({ size_bytes: -1 }), expect: BAD, pglite: true },
  { name: 'presign: non-integer size', op: 'presign', input: presign({ size_bytes: 1.5 }), expect: BAD },
  { name: 'presign: size 2^53 (> MAX_SAFE_INTEGER)', op: 'presign', input: presign({ size_bytes: 2 ** 53 }), expect: BAD },
  { name: 'presign: size 1e300', op: 'presign', input: presign({ size_bytes: 1e300 }), expect: BAD },
  { name: 'presign: size over AETHER_MAX_ARTIFACT_SIZE_BYTES', op: 'presign', input: presign({ size_bytes: MAX_SIZE + 1 }), expect: [400, 'size_exceeded'], pglite: true },
  { name: 'presign: size as a string', op: 'presign', input: { app_name: COERCE_APP, digest: uniq(1), size_bytes: '5' }, expect: BAD },
  { name: 'presign: size null', op: 'presign', input: { app_name: COERCE_APP, digest: uniq(2), size_bytes: null }, expect: BAD },
  { name: 'presign: size true', op: 'presign', input: { app_name: COERCE_APP, digest: uniq(3), size_bytes: true }, expect: BAD },
  // ---- presign: apps, bodies, callers
  { name: 'presign: unknown app', op: 'presign', input: presign({ app_name: 'ghost' }), expect: NOT_FOUND, pglite: true },
  { name: 'presign: app name with "_" and capitals', op: 'presign', input: presign({ app_name: 'Bad_Name' }), expect: BAD },
  { name: 'presign: app name of 64 chars', op: 'presign', input: presign({ app_name: 'a'.repeat(64) }), expect: BAD },
  { name: 'presign: empty app name', op: 'presign', input: presign({ app_name: '' }), expect: BAD },
  { name: 'presign: app name starting with "-"', op: 'presign', input: presign({ app_name: '-bad' }), expect: BAD },
  { name: 'presign: malformed JSON', op: 'presign', raw: '{"app_name": ', expect: BAD, pglite: true },
  { name: 'presign: empty body', op: 'presign', raw: '', expect: BAD },
  { name: 'presign: array body', op: 'presign', raw: '[]', expect: BAD },
  { name: 'presign: text/plain content type', op: 'presign', input: presign(), contentType: 'text/plain', expect: [415, 'unsupported_media_type'], pglite: true },
  { name: 'presign: no content type', op: 'presign', input: presign(), contentType: null, expect: [415, 'unsupported_media_type'] },
  { name: 'presign: no token', op: 'presign', input: presign(), token: null, expect: UNAUTHORIZED, pglite: true },
  { name: 'presign: wrong token', op: 'presign', input: presign(), token: 'wrong', expect: UNAUTHORIZED },
  { name: 'presign: reader', op: 'presign', input: presign(), token: 'reader', expect: FORBIDDEN, pglite: true },

  // ---- complete
  { name: 'complete: nothing presigned nor uploaded', op: 'complete', input: complete({ digest: G }), expect: NOT_FOUND, pglite: true },
  { name: 'complete: size differs from the presign', op: 'complete', input: complete({ size_bytes: 101 }), expect: [400, 'size_mismatch'], pglite: true },
  { name: 'complete: size over the limit', op: 'complete', input: complete({ size_bytes: MAX_SIZE + 1 }), expect: [400, 'size_exceeded'] },
  { name: 'complete: negative size', op: 'complete', input: complete({ size_bytes: -100 }), expect: BAD },
  { name: 'complete: uppercase digest', op: 'complete', input: complete({ digest: P.toUpperCase() }), expect: INVALID_DIGEST },
  { name: 'complete: signature of 127 chars', op: 'complete', input: sig('a'.repeat(127)), expect: BAD, pglite: true },
  { name: 'complete: signature of 129 chars', op: 'complete', input: sig('a'.repeat(129)), expect: BAD },
  { name: 'complete: uppercase signature', op: 'complete', input: sig('A'.repeat(128)), expect: BAD },
  { name: 'complete: non-hex signature', op: 'complete', input: sig('z'.repeat(128)), expect: BAD },
  { name: 'complete: empty idempotency key', op: 'complete', input: complete({ idempotency_key: '' }), expect: BAD },
  { name: 'complete: idempotency key of 201 chars', op: 'complete', input: complete({ idempotency_key: 'k'.repeat(201) }), expect: BAD },
  { name: 'complete: negative upload duration', op: 'complete', input: complete({ upload_duration_secs: -1 }), expect: BAD },
  { name: 'complete: upload duration over a day', op: 'complete', input: complete({ upload_duration_secs: 86_401 }), expect: BAD },
  { name: 'complete: unknown app', op: 'complete', input: complete({ app_name: 'ghost' }), expect: NOT_FOUND },
  { name: 'complete: malformed JSON', op: 'complete', raw: '{"digest":', expect: BAD },
  { name: 'complete: no token', op: 'complete', input: complete(), token: null, expect: UNAUTHORIZED },
  { name: 'complete: reader', op: 'complete', input: complete(), token: 'reader', expect: FORBIDDEN, pglite: true },

  // ---- multipart init
  { name: 'multipart init: short digest', op: 'multipartInit', input: presign({ digest: 'abc' }), expect: INVALID_DIGEST },
  { name: 'multipart init: size over the limit', op: 'multipartInit', input: presign({ size_bytes: MAX_SIZE + 1 }), expect: [400, 'size_exceeded'], pglite: true },
  { name: 'multipart init: negative size', op: 'multipartInit', input: presign({ size_bytes: -5 }), expect: BAD },
  { name: 'multipart init: unknown app', op: 'multipartInit', input: presign({ app_name: 'ghost' }), expect: NOT_FOUND },
  { name: 'multipart init: reader', op: 'multipartInit', input: presign(), token: 'reader', expect: FORBIDDEN },

  // ---- multipart presign-part
  { name: 'presign-part: part 0', op: 'multipartPresignPart', inputOf: part({ part_number: 0 }), expect: BAD, pglite: true },
  { name: 'presign-part: part 10001', op: 'multipartPresignPart', inputOf: part({ part_number: 10_001 }), expect: BAD },
  { name: 'presign-part: part 1.5', op: 'multipartPresignPart', inputOf: part({ part_number: 1.5 }), expect: BAD },
  { name: 'presign-part: part -1', op: 'multipartPresignPart', inputOf: part({ part_number: -1 }), expect: BAD },
  { name: 'presign-part: unknown upload id', op: 'multipartPresignPart', inputOf: part({ upload_id: 'f'.repeat(32) }), expect: [400, 'upload_id_mismatch'], pglite: true },
  { name: 'presign-part: digest with no upload', op: 'multipartPresignPart', inputOf: part({ digest: G }), expect: [400, 'unknown_digest'] },
  { name: 'presign-part: single-PUT upload', op: 'multipartPresignPart', inputOf: part({ digest: P }), expect: [400, 'upload_id_mismatch'] },
  { name: 'presign-part: empty upload id', op: 'multipartPresignPart', inputOf: part({ upload_id: '' }), expect: BAD },
  { name: 'presign-part: upload id of 1025 chars', op: 'multipartPresignPart', inputOf: part({ upload_id: 'u'.repeat(1025) }), expect: BAD },
  { name: 'presign-part: unknown app', op: 'multipartPresignPart', inputOf: part({ app_name: 'ghost' }), expect: NOT_FOUND },
  { name: 'presign-part: reader', op: 'multipartPresignPart', inputOf: part(), token: 'reader', expect: FORBIDDEN },
  { name: 'presign-part: part number as a string', op: 'multipartPresignPart', inputOf: part({ part_number: '2' }), expect: BAD },

  // ---- multipart complete
  { name: 'multipart complete: wrong ETag', op: 'multipartComplete', inputOf: mComplete({ parts: [{ part_number: 1, etag: `"${'0'.repeat(32)}"` }] }), expect: BAD, pglite: true },
  { name: 'multipart complete: empty ETag', op: 'multipartComplete', inputOf: mComplete({ parts: [{ part_number: 1, etag: '' }] }), expect: BAD },
  { name: 'multipart complete: no parts', op: 'multipartComplete', inputOf: mComplete({ parts: [] }), expect: BAD },
  { name: 'multipart complete: part 0', op: 'multipartComplete', inputOf: (f) => mComplete({ parts: [{ part_number: 0, etag: f.E }] })(f), expect: BAD },
  { name: 'multipart complete: part 10001', op: 'multipartComplete', inputOf: (f) => mComplete({ parts: [{ part_number: 10_001, etag: f.E }] })(f), expect: BAD },
  { name: 'multipart complete: part never uploaded', op: 'multipartComplete', inputOf: (f) => mComplete({ parts: [{ part_number: 2, etag: f.E }] })(f), expect: BAD },
  { name: 'multipart complete: unknown upload id', op: 'multipartComplete', inputOf: mComplete({ upload_id: 'f'.repeat(32) }), expect: [400, 'upload_id_mismatch'] },
  { name: 'multipart complete: digest with no upload', op: 'multipartComplete', inputOf: mComplete({ digest: G }), expect: [400, 'unknown_digest'] },
  { name: 'multipart complete: size differs from init', op: 'multipartComplete', inputOf: mComplete({ size_bytes: 101 }), expect: [400, 'size_mismatch'] },
  { name: 'multipart complete: size over the limit', op: 'multipartComplete', inputOf: mComplete({ size_bytes: MAX_SIZE + 1 }), expect: [400, 'size_exceeded'] },
  { name: 'multipart complete: signature of 127 chars', op: 'multipartComplete', inputOf: mComplete({ signature: 'b'.repeat(127) }), expect: BAD },
  { name: 'multipart complete: reader', op: 'multipartComplete', inputOf: mComplete(), token: 'reader', expect: FORBIDDEN },

  // ---- multipart abort
  { name: 'multipart abort: unknown upload id', op: 'multipartAbort', inputOf: part({ upload_id: 'f'.repeat(32), part_number: undefined }), expect: [400, 'upload_id_mismatch'], pglite: true },
  { name: 'multipart abort: digest with no upload', op: 'multipartAbort', inputOf: part({ digest: G, part_number: undefined }), expect: [400, 'unknown_digest'] },
  { name: 'multipart abort: empty upload id', op: 'multipartAbort', inputOf: part({ upload_id: '', part_number: undefined }), expect: BAD },
  { name: 'multipart abort: unknown app', op: 'multipartAbort', inputOf: part({ app_name: 'ghost', part_number: undefined }), expect: NOT_FOUND },
  { name: 'multipart abort: reader', op: 'multipartAbort', inputOf: part({ part_number: undefined }), token: 'reader', expect: FORBIDDEN },

  // ---- list
  { name: 'list: limit 0', op: 'list', input: { limit: 0 }, token: 'reader', expect: BAD, pglite: true },
  { name: 'list: limit 501', op: 'list', input: { limit: 501 }, token: 'reader', expect: BAD },
  { name: 'list: limit "abc"', op: 'list', input: { limit: 'abc' }, token: 'reader', expect: BAD },
  { name: 'list: unknown status', op: 'list', input: { status: 'bogus' }, token: 'reader', expect: BAD },
  { name: 'list: undecodable cursor', op: 'list', input: { cursor: 'garbage' }, token: 'reader', expect: BAD },
  { name: 'list: cursor of 201 chars', op: 'list', input: { cursor: 'c'.repeat(201) }, token: 'reader', expect: BAD },
  { name: 'list: unknown app', op: 'list', input: { app_name: 'ghost' }, token: 'reader', expect: NOT_FOUND },
  { name: 'list: invalid app name', op: 'list', input: { app_name: 'Bad_Name' }, token: 'reader', expect: BAD },
  { name: 'list: malformed input JSON (tRPC)', op: 'list', raw: '{"limit":', token: 'reader', expect: BAD, rest: 'skip' },
  { name: 'list: no token', op: 'list', input: {}, token: null, expect: UNAUTHORIZED },
  { name: 'list: wrong token', op: 'list', input: {}, token: 'wrong', expect: UNAUTHORIZED, pglite: true },

  // ---- meta
  { name: 'meta: short digest', op: 'meta', input: { digest: 'abc' }, token: 'reader', expect: INVALID_DIGEST },
  { name: 'meta: uppercase digest', op: 'meta', input: { digest: P.toUpperCase() }, token: 'reader', expect: INVALID_DIGEST },
  { name: 'meta: unknown digest', op: 'meta', input: { digest: G }, token: 'reader', expect: NOT_FOUND, pglite: true },
  { name: 'meta: digest of another app', op: 'meta', input: { digest: P, app_name: 'ghost' }, token: 'reader', expect: NOT_FOUND },
  { name: 'meta: invalid app name', op: 'meta', input: { digest: P, app_name: 'Bad_Name' }, token: 'reader', expect: BAD },
  { name: 'meta: no token', op: 'meta', input: { digest: P }, token: null, expect: UNAUTHORIZED },

  // ---- HEAD /artifacts/{digest} (tRPC face: artifacts.meta)
  { name: 'head: short digest', op: 'head', input: { digest: 'abc' }, token: 'reader', expect: INVALID_DIGEST },
  { name: 'head: uppercase digest', op: 'head', input: { digest: G.toUpperCase() }, token: 'reader', expect: INVALID_DIGEST, pglite: true },
  { name: 'head: unknown digest', op: 'head', input: { digest: G }, token: 'reader', expect: NOT_FOUND },
  { name: 'head: pending digest is not stored', op: 'head', input: { digest: P }, token: 'reader', expect: NOT_FOUND, trpc: 'skip' },
  { name: 'head: invalid app name', op: 'head', input: { digest: P, app_name: 'Bad_Name' }, token: 'reader', expect: BAD },
  { name: 'head: no token', op: 'head', input: { digest: P }, token: null, expect: UNAUTHORIZED },
  { name: 'head: wrong token', op: 'head', input: { digest: P }, token: 'wrong', expect: UNAUTHORIZED },

  // ---- PATCH /apps/{app_name}/limits (admin only)
  { name: 'limits: deployer', op: 'setLimits', input: { app_name: APP, max_artifacts: 3 }, expect: FORBIDDEN, pglite: true },
  { name: 'limits: reader', op: 'setLimits', input: { app_name: APP, max_artifacts: 3 }, token: 'reader', expect: FORBIDDEN },
  { name: 'limits: no token', op: 'setLimits', input: { app_name: APP, max_artifacts: 3 }, token: null, expect: UNAUTHORIZED },
  { name: 'limits: negative max_artifacts', op: 'setLimits', input: { app_name: APP, max_artifacts: -1 }, token: 'admin', expect: BAD },
  { name: 'limits: non-integer max_artifacts', op: 'setLimits', input: { app_name: APP, max_artifacts: 1.5 }, token: 'admin', expect: BAD },
  { name: 'limits: max_artifacts over 1e6', op: 'setLimits', input: { app_name: APP, max_artifacts: 1_000_001 }, token: 'admin', expect: BAD },
  { name: 'limits: negative max_total_bytes', op: 'setLimits', input: { app_name: APP, max_total_bytes: -1 }, token: 'admin', expect: BAD },
  { name: 'limits: max_total_bytes 2^53', op: 'setLimits', input: { app_name: APP, max_total_bytes: 2 ** 53 }, token: 'admin', expect: BAD },
  { name: 'limits: retain_latest 0', op: 'setLimits', input: { app_name: APP, retain_latest: 0 }, token: 'admin', expect: BAD },
  { name: 'limits: unknown app', op: 'setLimits', input: { app_name: 'ghost', max_artifacts: 3 }, token: 'admin', expect: NOT_FOUND },
  { name: 'limits: invalid app name', op: 'setLimits', input: { app_name: 'Bad_Name', max_artifacts: 3 }, token: 'admin', expect: BAD },
  { name: 'limits: malformed JSON', op: 'setLimits', input: { app_name: APP }, raw: '{"max_artifacts":', token: 'admin', expect: BAD },
  { name: 'limits: max_artifacts as a string', op: 'setLimits', input: { app_name: COERCE_APP, max_artifacts: '5' }, token: 'admin', expect: BAD },
  { name: 'limits: max_total_bytes as ""', op: 'setLimits', input: { app_name: COERCE_APP, max_total_bytes: '' }, token: 'admin', expect: BAD },

  // ---- POST /deployments
  { name: 'deploy: unknown app', op: 'createDeployment', input: { app_name: 'ghost', digest: P }, expect: NOT_FOUND },
  { name: 'deploy: unknown digest', op: 'createDeployment', input: { app_name: APP, digest: G }, expect: NOT_FOUND, pglite: true },
  { name: 'deploy: artifact still pending', op: 'createDeployment', input: { app_name: APP, digest: P }, expect: [409, 'conflict'], pglite: true },
  { name: 'deploy: short digest', op: 'createDeployment', input: { app_name: APP, digest: 'abc' }, expect: INVALID_DIGEST },
  { name: 'deploy: invalid app name', op: 'createDeployment', input: { app_name: 'Bad_Name', digest: P }, expect: BAD },
  { name: 'deploy: reader', op: 'createDeployment', input: { app_name: APP, digest: P }, token: 'reader', expect: FORBIDDEN },
  { name: 'deploy: no token', op: 'createDeployment', input: { app_name: APP, digest: P }, token: null, expect: UNAUTHORIZED },

  // ---- PATCH /apps/{app_name}/config: names, values, counts (each names the variable, never echoes a value)
  { name: 'config: empty variable name', op: 'configChange', input: cfg({ set: { '': VALUE } }), expect: BAD, pglite: true, names: 'empty', secretValues: [VALUE] },
  { name: 'config: name starting with a digit', op: 'configChange', input: cfg({ set: { '1API': VALUE } }), expect: BAD, pglite: true, names: '1API', secretValues: [VALUE] },
  { name: 'config: name with "-"', op: 'configChange', input: cfg({ set: { 'API-KEY': VALUE } }), expect: BAD, names: 'API-KEY', secretValues: [VALUE] },
  { name: 'config: name with "="', op: 'configChange', input: cfg({ set: { 'A=B': VALUE } }), expect: BAD, names: 'A=B', secretValues: [VALUE] },
  { name: 'config: name of 256 characters', op: 'configChange', input: cfg({ set: { [LONG_NAME]: VALUE } }), expect: BAD, names: LONG_NAME.slice(0, 64), secretValues: [VALUE] },
  { name: 'config: reserved PORT', op: 'configChange', input: cfg({ set: { PORT: '8080' } }), expect: BAD, pglite: true, names: 'PORT' },
  { name: 'config: reserved AETHER_X', op: 'configChange', input: cfg({ set: { AETHER_X: VALUE } }), expect: BAD, names: 'AETHER_X', secretValues: [VALUE] },
  { name: 'config: reserved aether_x (any case)', op: 'configChange', input: cfg({ set: { aether_x: VALUE } }), expect: BAD, names: 'aether_x', secretValues: [VALUE] },
  { name: 'config: reserved name as a secret', op: 'configChange', input: cfg({ secrets: { AETHER_TOKEN: VALUE } }), expect: BAD, names: 'AETHER_TOKEN', secretValues: [VALUE] },
  { name: 'config: NUL byte in a value', op: 'configChange', input: cfg({ set: { WITH_NUL: `a\u0000${VALUE}` } }), expect: BAD, pglite: true, names: 'WITH_NUL', secretValues: [VALUE] },
  { name: 'config: NUL byte in a secret', op: 'configChange', input: cfg({ secrets: { SECRET_NUL: `${VALUE}\u0000` } }), expect: BAD, names: 'SECRET_NUL', secretValues: [VALUE] },
  { name: 'config: value of 32 KiB + 1', op: 'configChange', input: cfg({ set: { BIG: VALUE + 'x'.repeat(32 * 1024 + 1 - VALUE.length) } }), expect: BAD, pglite: true, names: 'BIG', secretValues: [VALUE] },
  { name: 'config: secret of 32 KiB + 1', op: 'configChange', input: cfg({ secrets: { BIG_SECRET: VALUE + 'y'.repeat(32 * 1024 + 1 - VALUE.length) } }), expect: BAD, names: 'BIG_SECRET', secretValues: [VALUE] },
  { name: 'config: the 501st variable', op: 'configChange', input: cfg({ app_name: FULL_APP, set: { ONE_MORE: VALUE } }), expect: BAD, pglite: true, names: '500', secretValues: [VALUE] },
  { name: 'config: the 501st variable as a secret', op: 'configChange', input: cfg({ app_name: FULL_APP, secrets: { ONE_MORE: VALUE } }), expect: BAD, names: '500', secretValues: [VALUE] },
  { name: 'config: same name in set and unset', op: 'configChange', input: cfg({ set: { TWICE: VALUE }, unset: ['TWICE'] }), expect: BAD, names: 'TWICE', secretValues: [VALUE] },
  { name: 'config: same name in set and secrets', op: 'configChange', input: cfg({ set: { TWICE: VALUE }, secrets: { TWICE: `${VALUE}-s` } }), expect: BAD, pglite: true, names: 'TWICE', secretValues: [VALUE] },
  { name: 'config: unset with a bad name', op: 'configChange', input: cfg({ unset: ['NOT-A-NAME'] }), expect: BAD, names: 'NOT-A-NAME' },
  { name: 'config: unset a reserved name', op: 'configChange', input: cfg({ unset: ['PORT'] }), expect: BAD, names: 'PORT' },
  { name: 'config: one bad name among good ones is all refused', op: 'configChange', input: cfg({ set: { GOOD_ONE: VALUE, 'BAD.ONE': VALUE } }), expect: BAD, names: 'BAD.ONE', secretValues: [VALUE] },
  { name: 'config: value as a number', op: 'configChange', input: cfg({ set: { NUMERIC: 5 } }), expect: BAD },
  { name: 'config: set as an array', op: 'configChange', input: cfg({ set: ['A=1'] }), expect: BAD },
  { name: 'config: expected_version stale', op: 'configChange', input: cfg({ set: { FRESH: VALUE }, expected_version: 1 }), expect: [409, 'conflict'], pglite: true, secretValues: [VALUE] },
  { name: 'config: expected_version 0', op: 'configChange', input: cfg({ set: { FRESH: VALUE }, expected_version: 0 }), expect: BAD },
  { name: 'config: unknown app', op: 'configChange', input: cfg({ app_name: 'ghost', set: { A: VALUE } }), expect: NOT_FOUND, secretValues: [VALUE] },
  { name: 'config: app of another team (limited bearer)', op: 'configChange', input: cfg({ app_name: OTHER_TEAM_APP, set: { A: VALUE } }), token: LIMITED_BEARER, expect: NOT_FOUND, pglite: true, secretValues: [VALUE] },
  { name: 'config: app of another team (limited cookie session)', op: 'configChange', input: cfg({ app_name: OTHER_TEAM_APP, set: { A: VALUE } }), token: LIMITED_COOKIE, expect: NOT_FOUND, rest: 'skip' },
  { name: 'config: reader', op: 'configChange', input: cfg({ set: { A: VALUE } }), token: 'reader', expect: FORBIDDEN, secretValues: [VALUE] },
  { name: 'config: no token', op: 'configChange', input: cfg({ set: { A: VALUE } }), token: null, expect: UNAUTHORIZED },
  { name: 'config list: app of another team (limited bearer)', op: 'configList', input: { app_name: OTHER_TEAM_APP }, token: LIMITED_BEARER, expect: NOT_FOUND },
  { name: 'config deploy: nothing runs', op: 'configDeploy', input: { app_name: APP }, expect: [409, 'conflict'] },
  { name: 'config deploy: app of another team (limited bearer)', op: 'configDeploy', input: { app_name: OTHER_TEAM_APP }, token: LIMITED_BEARER, expect: NOT_FOUND },

  // ---- PATCH /apps/{app_name}: settings and team
  { name: 'settings: health_path without a leading "/"', op: 'updateApp', input: { app_name: APP, health_path: 'ready' }, expect: BAD, pglite: true, names: 'health_path' },
  { name: 'settings: health_path with a space', op: 'updateApp', input: { app_name: APP, health_path: '/re ady' }, expect: BAD, names: 'health_path' },
  { name: 'settings: health_timeout_secs 0', op: 'updateApp', input: { app_name: APP, health_timeout_secs: 0 }, expect: BAD, pglite: true },
  { name: 'settings: health_timeout_secs 3601', op: 'updateApp', input: { app_name: APP, health_timeout_secs: 3601 }, expect: BAD },
  { name: 'settings: health_timeout_secs 1.5', op: 'updateApp', input: { app_name: APP, health_timeout_secs: 1.5 }, expect: BAD },
  { name: 'settings: empty start_command', op: 'updateApp', input: { app_name: APP, start_command: '' }, expect: BAD, pglite: true },
  { name: 'settings: blank start_command', op: 'updateApp', input: { app_name: APP, start_command: '   ' }, expect: BAD, names: 'start_command' },
  { name: 'settings: NUL byte in start_command', op: 'updateApp', input: { app_name: APP, start_command: 'node\u0000index.js' }, expect: BAD, names: 'start_command' },
  { name: 'settings: nothing to update', op: 'updateApp', input: { app_name: APP }, expect: BAD },
  { name: 'settings: a deployer moving the app to another team', op: 'updateApp', input: { app_name: APP, team: 'team-a' }, expect: FORBIDDEN },

  // ---- POST /apps/{app_name}/scale|stop|start|restart (validation, then quota, then state)
  { name: 'scale: negative instances', op: 'scaleApp', input: { app_name: APP, instances: -1 }, expect: BAD, pglite: true },
  { name: 'scale: fractional instances', op: 'scaleApp', input: { app_name: APP, instances: 1.5 }, expect: BAD },
  { name: 'scale: instances as a string', op: 'scaleApp', input: { app_name: COERCE_APP, instances: '2' }, expect: BAD },
  { name: 'scale: no instances', op: 'scaleApp', input: { app_name: APP }, expect: BAD },
  { name: 'scale: malformed JSON', op: 'scaleApp', input: { app_name: APP }, raw: '{"instances":', expect: BAD },
  { name: 'scale: above max_instances (10)', op: 'scaleApp', input: { app_name: APP, instances: 11 }, expect: [403, 'quota_exceeded'], pglite: true },
  { name: 'scale: nothing running to scale', op: 'scaleApp', input: { app_name: APP, instances: 2 }, expect: [409, 'conflict'] },
  { name: 'scale: unknown app', op: 'scaleApp', input: { app_name: 'ghost', instances: 2 }, expect: NOT_FOUND },
  { name: 'scale: invalid app name', op: 'scaleApp', input: { app_name: 'Bad_Name', instances: 2 }, expect: BAD },
  { name: 'scale: reader', op: 'scaleApp', input: { app_name: APP, instances: 2 }, token: 'reader', expect: FORBIDDEN },
  { name: 'scale: no token', op: 'scaleApp', input: { app_name: APP, instances: 2 }, token: null, expect: UNAUTHORIZED },
  { name: 'stop: nothing running', op: 'stopApp', input: { app_name: APP }, expect: [409, 'conflict'] },
  { name: 'stop: unknown app', op: 'stopApp', input: { app_name: 'ghost' }, expect: NOT_FOUND },
  { name: 'stop: reader', op: 'stopApp', input: { app_name: APP }, token: 'reader', expect: FORBIDDEN },
  { name: 'start: nothing running', op: 'startApp', input: { app_name: APP }, expect: [409, 'conflict'] },
  { name: 'start: unknown app', op: 'startApp', input: { app_name: 'ghost' }, expect: NOT_FOUND },
  { name: 'restart: nothing running', op: 'restartApp', input: { app_name: APP }, expect: [409, 'conflict'] },
  { name: 'restart: invalid app name', op: 'restartApp', input: { app_name: 'Bad_Name' }, expect: BAD },
  { name: 'restart: no token', op: 'restartApp', input: { app_name: APP }, token: null, expect: UNAUTHORIZED },
  { name: 'limits: max_instances 0', op: 'setLimits', input: { app_name: APP, max_instances: 0 }, token: 'admin', expect: BAD },
  { name: 'limits: max_instances 1001', op: 'setLimits', input: { app_name: APP, max_instances: 1001 }, token: 'admin', expect: BAD },
  { name: 'settings: an admin moving the app to an unknown team', op: 'updateApp', input: { app_name: APP, team: 'ghost-team' }, token: 'admin', expect: BAD, names: 'ghost-team' },
  { name: 'settings: app of another team (limited bearer)', op: 'updateApp', input: { app_name: OTHER_TEAM_APP, health_path: '/x' }, token: LIMITED_BEARER, expect: NOT_FOUND },
  { name: 'settings: reader', op: 'updateApp', input: { app_name: APP, health_path: '/x' }, token: 'reader', expect: FORBIDDEN },

  // ---- teams: on apps.create, and teams.create/delete (admin)
  { name: 'apps.create: unknown team', op: 'createApp', input: { name: 'new-one', team: 'ghost-team' }, expect: BAD, pglite: true, names: 'ghost-team' },
  { name: 'apps.create: team with uppercase', op: 'createApp', input: { name: 'new-one', team: 'Team-A' }, expect: BAD },
  { name: 'apps.create: empty team', op: 'createApp', input: { name: 'new-one', team: '' }, expect: BAD },
  { name: "apps.create: team outside the caller's teams (limited bearer)", op: 'createApp', input: { name: 'new-one', team: 'team-b' }, token: LIMITED_BEARER, expect: FORBIDDEN, pglite: true },
  { name: 'apps.create: forged team in a limited cookie session', op: 'createApp', input: { name: 'new-one', team: 'team-b' }, token: LIMITED_COOKIE, expect: FORBIDDEN, rest: 'skip', pglite: true },
  { name: "apps.create: a team that does not exist, outside the caller's teams", op: 'createApp', input: { name: 'new-one', team: 'ghost-team' }, token: LIMITED_BEARER, expect: FORBIDDEN },
  { name: 'teams.create: duplicate', op: 'createTeam', input: { name: 'team-a' }, token: 'admin', expect: [409, 'conflict'], pglite: true, names: 'team-a' },
  { name: 'teams.create: uppercase name', op: 'createTeam', input: { name: 'Team-C' }, token: 'admin', expect: BAD },
  { name: 'teams.create: deployer', op: 'createTeam', input: { name: 'team-c' }, expect: FORBIDDEN },
  { name: 'teams.delete: default', op: 'deleteTeam', input: { name: 'default' }, token: 'admin', expect: [409, 'conflict'], pglite: true, names: 'default' },
  { name: 'teams.delete: a team with apps', op: 'deleteTeam', input: { name: 'team-b' }, token: 'admin', expect: [409, 'conflict'], names: 'team-b' },
  { name: 'teams.delete: unknown team', op: 'deleteTeam', input: { name: 'ghost-team' }, token: 'admin', expect: NOT_FOUND },
  { name: 'teams.delete: deployer', op: 'deleteTeam', input: { name: 'team-a' }, expect: FORBIDDEN },
];

/** The raw-body cases send their path parameters through the input, the body verbatim. */
function callOf(c: Case, f: Fixtures): FaceCall {
  const input = c.inputOf ? c.inputOf(f) : c.input;
  return { op: c.op, input, raw: c.raw, contentType: c.contentType, token: c.token === undefined ? 'deployer' : c.token };
}

async function startFixtures(kind: DbKind): Promise<{ plane: TestPlane; fx: Fixtures }> {
  const tokens = [...TOKEN_ENTRIES, `${LIMITED}:deployer:limited:team-a`];
  const plane = await startTestPlane(kind, { AETHER_MAX_ARTIFACT_SIZE_BYTES: String(MAX_SIZE), AETHER_API_TOKENS: tokens.join(',') });
  const deployer = plane.caller('deployer');
  const admin = plane.caller('admin');
  await deployer.apps.create({ name: APP });
  await deployer.apps.create({ name: COERCE_APP });
  await admin.teams.create({ name: 'team-a' });
  await admin.teams.create({ name: 'team-b' });
  await admin.apps.create({ name: OTHER_TEAM_APP, team: 'team-b' });
  // Version 2 of APP's config, so expected_version 1 is stale; FULL_APP holds the most variables allowed.
  await deployer.config.change({ app_name: APP, set: { EXISTING: 'yes' } });
  await deployer.apps.create({ name: FULL_APP });
  await deployer.config.change({ app_name: FULL_APP, set: Object.fromEntries(Array.from({ length: MAX_CONFIG_VARS }, (_, i) => [`VAR_${i}`, String(i)])) });
  await deployer.artifacts.presign({ app_name: APP, digest: P, size_bytes: 100 });
  const { upload_id: U } = await deployer.artifacts.multipartInit({ app_name: APP, digest: M, size_bytes: 100 });
  const url = await deployer.artifacts.multipartPresignPart({ app_name: APP, digest: M, upload_id: U, part_number: 1 });
  const res = await fetch(url.url, { method: 'PUT', headers: url.headers, body: new Uint8Array(randomBytes(100)) });
  if (!res.ok) throw new Error(`part PUT failed: ${res.status}`);
  const E = (res.headers.get('etag') ?? '').replaceAll('"', '');
  if (!E) throw new Error('no ETag on the part');
  return { plane, fx: { U, E } };
}

function runTable(face: Face, cases: Case[], ctx: () => { plane: TestPlane; fx: Fixtures }) {
  const selected = cases.filter((c) => (face === 'rest' ? c.rest : c.trpc) !== 'skip');
  it.each(selected.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const { plane, fx } = ctx();
    const call = callOf(c, fx);
    const override = face === 'rest' ? c.rest : c.trpc;
    const [status, code] = override && override !== 'skip' ? override : c.expect;
    const before = await planeState(plane);
    const headsBefore = await headsOf(plane, call.input);

    const res = await callFace(plane, face, call);

    expect(res.status, `${face} ${c.name}: ${res.code} ${res.message}`).toBeLessThan(500);
    // HEAD answers carry no body: the status is all there is.
    const got = face === 'rest' && c.op === 'head' ? { status: res.status } : { status: res.status, code: res.code };
    const want = face === 'rest' && c.op === 'head' ? { status } : { status, code };
    expect(got, res.message).toEqual(want);
    if (!(face === 'rest' && c.op === 'head')) expect(typeof res.message).toBe('string');
    if (c.names) expect(res.message).toContain(c.names);
    for (const v of c.secretValues ?? []) {
      expect(res.message).not.toContain(v);
      expect(JSON.stringify(res.data)).not.toContain(v);
    }

    expect(await planeState(plane)).toEqual(before);
    const headsAfter = await headsOf(plane, call.input);
    expect(headsAfter).toEqual(headsBefore);
    for (const info of Object.values(headsAfter)) expect(info).toBeNull();
  });
}

describe('bad input on postgres', () => {
  let plane: TestPlane;
  let fx: Fixtures;
  beforeAll(async () => {
    ({ plane, fx } = await startFixtures('postgres'));
  });
  afterAll(async () => plane?.close());
  const ctx = () => ({ plane, fx });

  it('has at least 40 cases per face', () => {
    expect(CASES.filter((c) => c.trpc !== 'skip').length).toBeGreaterThanOrEqual(40);
    expect(CASES.filter((c) => c.rest !== 'skip').length).toBeGreaterThanOrEqual(40);
    const configAndTeams = CASES.filter((c) => ['configChange', 'configList', 'configDeploy', 'updateApp', 'createTeam', 'deleteTeam'].includes(c.op) || (c.op === 'createApp' && c.name.includes('team')));
    expect(configAndTeams.length).toBeGreaterThanOrEqual(25);
  });

  // tRPC first: the REST face's coercion leaks into tRPC (see the last test).
  describe('tRPC face', () => runTable('trpc', CASES, ctx));
  describe('REST face', () => runTable('rest', CASES, ctx));

  it('tRPC stays strict after the REST face has served the same procedure', async () => {
    // The REST table above has called artifacts.presign through trpc-to-openapi, which sets
    // `coerce` on the shared input schema in place: tRPC then takes "7" (and null, true) as numbers.
    const res = await callFace(plane, 'trpc', { op: 'presign', input: { app_name: COERCE_APP, digest: uniq(9), size_bytes: '7' } });
    expect({ status: res.status, code: res.code }).toEqual({ status: 400, code: 'bad_request' });
  });

  it('refuses a 0-byte artifact (it cannot be a tar.gz), changing nothing', async () => {
    const before = await planeState(plane);
    const res = await callFace(plane, 'trpc', { op: 'presign', input: { app_name: APP, digest: sha256(Buffer.alloc(0)), size_bytes: 0 } });
    expect({ status: res.status, code: res.code }).toEqual({ status: 400, code: 'bad_request' });
    expect(await planeState(plane)).toEqual(before);
  });

  it('refuses a single-PUT complete for a multipart upload in progress, changing nothing', async () => {
    // The row of M is pending with an upload id; its parts were never assembled.
    const before = await planeState(plane);
    const res = await callFace(plane, 'trpc', { op: 'complete', input: { app_name: APP, digest: M, size_bytes: 100 } });
    // A 409, not upload_id_mismatch: the row is in a state a single-PUT complete cannot act on.
    expect({ status: res.status, code: res.code }).toEqual({ status: 409, code: 'conflict' });
    expect(res.message).toContain('multipart/complete');
    expect(await planeState(plane)).toEqual(before);
  });
});

describe('bad input on pglite (subset)', () => {
  let plane: TestPlane;
  let fx: Fixtures;
  beforeAll(async () => {
    ({ plane, fx } = await startFixtures('pglite'));
  });
  afterAll(async () => plane?.close());
  const subset = CASES.filter((c) => c.pglite);
  const ctx = () => ({ plane, fx });
  describe('tRPC face', () => runTable('trpc', subset, ctx));
  describe('REST face', () => runTable('rest', subset, ctx));
});
