import { ZAppName } from '../contract/apps';
import { isDigest } from '../contract/digest';
import { AppError } from '../errors';
import { roleAllows, type Actor } from '../auth/roles';
import { actorFromRequest } from './auth';
import { errorResponse } from './errors';
import { recordMutation, targetFromInput } from '../services/audit/mutation';
import type { AuditNote } from '../services/context';
import { legacyUpload, type LegacyUploadInput } from '../services/artifacts/legacy-upload.service';
import type { Services } from '../services/context';
import { requestBody } from './request-body';
import { Semaphore, type Release } from './semaphore';

const SIGNATURE_RE = /^[0-9a-fA-F]{128}$/;
/** Long enough for the verifier to answer a normal upload; past it the answer says `verifying`. */
const VERIFY_WAIT_MS = 20_000;
/** On every answer, as the seed marks this route. */
const DEPRECATED_HEADER = 'x-aether-deprecated';

// Next bundles route handlers separately: the semaphores live on globalThis. One per Services
// (one per process in production; one per control plane in tests, which run several).
const slots = globalThis as unknown as { __aetherUploadSemaphores?: WeakMap<Services, Semaphore> };

/** The semaphore of AETHER_MAX_CONCURRENT_UPLOADS permits that legacy uploads queue on. */
export function uploadSemaphore(services: Services): Semaphore {
  const all = (slots.__aetherUploadSemaphores ??= new WeakMap());
  let semaphore = all.get(services);
  if (!semaphore) {
    semaphore = new Semaphore(services.env.AETHER_MAX_CONCURRENT_UPLOADS);
    all.set(services, semaphore);
  }
  return semaphore;
}

/**
 * `POST /artifacts` (deprecated): the artifact as the raw request body, its sha256 in
 * `X-Aether-Artifact-Digest`, an optional Ed25519 signature in `X-Aether-Signature`, the app in
 * `?app_name=` or `X-Aether-App`. Answers 200 `{ artifact_url, digest, duplicate, app_linked,
 * verified, status, failure_reason }` once verification settled (or after 20 s, `verifying`).
 * Not a procedure, so it writes its audit record (`artifacts.legacyUpload`) itself.
 */
export async function handleLegacyUpload(services: Services, req: Request, requestId: string): Promise<Response> {
  const t0 = performance.now();
  services.metrics.artifactLegacyUploads.inc();
  const body = requestBody(req.body);
  const note: AuditNote = {};
  let actor: Actor | null = null;
  let res: Response;
  try {
    const url = new URL(req.url);
    note.target = targetFromInput({ app_name: url.searchParams.get('app_name') ?? req.headers.get('x-aether-app') });
    const auth = await actorFromRequest(services, req);
    if (!auth.actor) throw auth.authError ?? new AppError('unauthorized', 'missing bearer token');
    actor = auth.actor;
    if (!roleAllows(actor.role, 'deployer')) {
      throw new AppError('forbidden', `this needs the deployer role; you are ${actor.role}`);
    }
    const input = parseHeaders(req);
    note.target = input.app_name;
    note.detail = { digest: input.digest };
    const result = await legacyUpload({ ...services, actor, requestId, audit: note }, input, body.chunks(), {
      acquireSlot: () => acquireSlot(services, req.signal),
      waitMs: VERIFY_WAIT_MS,
    });
    services.metrics.artifactUploadDuration.observe((performance.now() - t0) / 1000);
    res = Response.json(result);
  } catch (err) {
    res = errorResponse(services, err);
  } finally {
    // A no-op when the body was read to its end; else the client may finish sending (bounded).
    body.drain();
  }
  if (actor) {
    const outcome = res.ok ? 'ok' : await envelopeCode(res);
    const action = 'artifacts.legacyUpload';
    const recording = recordMutation(services, { actor, action, outcome, requestId, note, rawInput: undefined });
    // As for tRPC mutations: a 503 does not also wait out the database's deadline for its record.
    if (outcome !== 'service_unavailable') await recording;
  }
  res.headers.set(DEPRECATED_HEADER, 'true');
  return res;
}

/** The error code an envelope answer carries, read from a clone so the answer stays intact. */
async function envelopeCode(res: Response): Promise<string> {
  const body = (await res.clone().json().catch(() => null)) as { code?: unknown } | null;
  return typeof body?.code === 'string' ? body.code : 'internal';
}

/** Waits for an upload slot; the gauge counts holders, and giving the slot back is idempotent. */
async function acquireSlot(services: Services, signal: AbortSignal): Promise<Release> {
  let release: Release;
  try {
    release = await uploadSemaphore(services).acquire(signal);
  } catch {
    // Only an abort rejects: the client left while queued. Nobody reads this answer.
    throw new AppError('bad_request', 'the client went away while waiting for an upload slot');
  }
  services.metrics.artifactUploadsInProgress.inc();
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    services.metrics.artifactUploadsInProgress.dec();
    release();
  };
}

/** Everything the headers and query say, checked before any byte of the body is read. */
function parseHeaders(req: Request): LegacyUploadInput {
  const digest = req.headers.get('x-aether-artifact-digest');
  if (!digest) throw new AppError('missing_digest', 'header X-Aether-Artifact-Digest is required');
  if (!isDigest(digest)) throw new AppError('invalid_digest', 'X-Aether-Artifact-Digest must be 64 lowercase hex characters (sha256)');
  const signature = req.headers.get('x-aether-signature') || undefined;
  if (signature !== undefined && !SIGNATURE_RE.test(signature)) {
    throw new AppError('bad_request', 'X-Aether-Signature must be 128 hex characters (Ed25519 over the digest)');
  }
  // Before the app check: the seed's form puts app_name in the body, so that is what it lacks.
  if (/^multipart\/form-data\b/i.test(req.headers.get('content-type') ?? '')) {
    throw new AppError('bad_request', 'multipart/form-data is not supported: send the artifact as the raw body (Content-Type: application/gzip) with ?app_name= or X-Aether-App');
  }
  const length = req.headers.get('content-length');
  return {
    app_name: appNameOf(req),
    digest,
    signature: signature?.toLowerCase(),
    declared_size_bytes: length !== null && /^\d+$/.test(length) ? Number(length) : undefined,
  };
}

function appNameOf(req: Request): string {
  const fromQuery = new URL(req.url).searchParams.get('app_name');
  const fromHeader = req.headers.get('x-aether-app');
  if (fromQuery && fromHeader && fromQuery !== fromHeader) throw new AppError('bad_request', '?app_name= and X-Aether-App name different apps');
  const name = fromQuery || fromHeader;
  if (!name) throw new AppError('bad_request', 'missing app_name (?app_name= or X-Aether-App)');
  const parsed = ZAppName.safeParse(name);
  if (!parsed.success) throw new AppError('bad_request', `invalid app_name: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}
