import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../support/artifacts';
import { callFace, type Face, type FaceCall, type Op, type TokenSpec } from '../support/faces';
import { startTestPlane, type DbKind, type TestPlane } from '../support/harness';
import { headsOf, planeState } from '../support/plane-state';

/**
 * Bad input, over both faces (REST at the seed's paths and tRPC over HTTP): every case answers
 * its exact status and error code, never a 5xx, and leaves no row, no event and no object.
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

const BAD: Expect = [400, 'bad_request'];
const NOT_FOUND: Expect = [404, 'not_found'];
const UNAUTHORIZED: Expect = [401, 'unauthorized'];
const FORBIDDEN: Expect = [403, 'forbidden'];

const CASES: Case[] = [
  // ---- presign: digests
  { name: 'presign: missing digest', op: 'presign', input: { app_name: APP, size_bytes: 1 }, expect: BAD, pglite: true },
  { name: 'presign: short digest', op: 'presign', input: presign({ digest: 'abc' }), expect: BAD, pglite: true },
  { name: 'presign: 63-char digest', op: 'presign', input: presign({ digest: 'a'.repeat(63) }), expect: BAD },
  { name: 'presign: 65-char digest', op: 'presign', input: presign({ digest: 'a'.repeat(65) }), expect: BAD },
  { name: 'presign: non-hex digest', op: 'presign', input: presign({ digest: 'g'.repeat(64) }), expect: BAD },
  { name: 'presign: uppercase digest', op: 'presign', input: presign({ digest: 'A'.repeat(64) }), expect: BAD, pglite: true },
  { name: 'presign: "sha256:"-prefixed digest', op: 'presign', input: presign({ digest: `sha256:${G}` }), expect: BAD },
  { name: 'presign: numeric digest', op: 'presign', input: presign({ digest: 123 }), expect: BAD },
  // ---- presign: sizes
  { name: 'presign: negative size', op: 'presign', input: presign({ size_bytes: -1 }), expect: BAD, pglite: true },
  { name: 'presign: non-integer size', op: 'presign', input: presign({ size_bytes: 1.5 }), expect: BAD },
  { name: 'presign: size 2^53 (> MAX_SAFE_INTEGER)', op: 'presign', input: presign({ size_bytes: 2 ** 53 }), expect: BAD },
  { name: 'presign: size 1e300', op: 'presign', input: presign({ size_bytes: 1e300 }), expect: BAD },
  { name: 'presign: size over AETHER_MAX_ARTIFACT_SIZE_BYTES', op: 'presign', input: presign({ size_bytes: MAX_SIZE + 1 }), expect: [400, 'size_exceeded'], pglite: true },
  { name: 'presign: missing size', op: 'presign', input: { app_name: APP, digest: G }, expect: BAD },
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
  { name: 'complete: uppercase digest', op: 'complete', input: complete({ digest: P.toUpperCase() }), expect: BAD },
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
  { name: 'multipart init: short digest', op: 'multipartInit', input: presign({ digest: 'abc' }), expect: BAD },
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
  { name: 'meta: short digest', op: 'meta', input: { digest: 'abc' }, token: 'reader', expect: BAD },
  { name: 'meta: uppercase digest', op: 'meta', input: { digest: P.toUpperCase() }, token: 'reader', expect: BAD },
  { name: 'meta: unknown digest', op: 'meta', input: { digest: G }, token: 'reader', expect: NOT_FOUND, pglite: true },
  { name: 'meta: digest of another app', op: 'meta', input: { digest: P, app_name: 'ghost' }, token: 'reader', expect: NOT_FOUND },
  { name: 'meta: invalid app name', op: 'meta', input: { digest: P, app_name: 'Bad_Name' }, token: 'reader', expect: BAD },
  { name: 'meta: no token', op: 'meta', input: { digest: P }, token: null, expect: UNAUTHORIZED },

  // ---- HEAD /artifacts/{digest} (tRPC face: artifacts.meta)
  { name: 'head: short digest', op: 'head', input: { digest: 'abc' }, token: 'reader', expect: BAD },
  { name: 'head: uppercase digest', op: 'head', input: { digest: G.toUpperCase() }, token: 'reader', expect: BAD, pglite: true },
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
  { name: 'deploy: short digest', op: 'createDeployment', input: { app_name: APP, digest: 'abc' }, expect: BAD },
  { name: 'deploy: invalid app name', op: 'createDeployment', input: { app_name: 'Bad_Name', digest: P }, expect: BAD },
  { name: 'deploy: reader', op: 'createDeployment', input: { app_name: APP, digest: P }, token: 'reader', expect: FORBIDDEN },
  { name: 'deploy: no token', op: 'createDeployment', input: { app_name: APP, digest: P }, token: null, expect: UNAUTHORIZED },
];

/** The raw-body cases send their path parameters through the input, the body verbatim. */
function callOf(c: Case, f: Fixtures): FaceCall {
  const input = c.inputOf ? c.inputOf(f) : c.input;
  return { op: c.op, input, raw: c.raw, contentType: c.contentType, token: c.token === undefined ? 'deployer' : c.token };
}

async function startFixtures(kind: DbKind): Promise<{ plane: TestPlane; fx: Fixtures }> {
  const plane = await startTestPlane(kind, { AETHER_MAX_ARTIFACT_SIZE_BYTES: String(MAX_SIZE) });
  const deployer = plane.caller('deployer');
  await deployer.apps.create({ name: APP });
  await deployer.apps.create({ name: COERCE_APP });
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
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
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
