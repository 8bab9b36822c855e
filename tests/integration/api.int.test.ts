import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRPCError } from '@trpc/server';
import { eq } from 'drizzle-orm';
import { applications, artifactEvents, artifacts, deployments } from '../../db/schema';
import type { RunningWorkers } from '../../jobs/start';
import { DB_KINDS, startTestPlane, type TestPlane } from '../support/harness';
import { sha256, tarGz } from '../support/artifacts';
import { uploadArtifact } from '../support/upload';

const DIGEST = 'a'.repeat(64);

/** Rows per table: "changes nothing" is asserted by comparing these before and after. */
async function counts(plane: TestPlane) {
  const db = plane.services.db;
  const [a, r, d] = await Promise.all([db.select().from(applications), db.select().from(artifacts), db.select().from(deployments)]);
  return { apps: a.length, artifacts: r.length, deployments: d.length, artifactStatuses: r.map((x) => `${x.digest}:${x.status}`).sort() };
}

async function expectCode(promise: Promise<unknown>, code: string) {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeInstanceOf(TRPCError);
  expect(((err as TRPCError).cause as { code?: string } | undefined)?.code ?? (err as TRPCError).code).toBe(code);
}

describe.each(DB_KINDS)('control plane API on %s', (kind) => {
  let plane: TestPlane;
  let workers: RunningWorkers;
  beforeAll(async () => {
    plane = await startTestPlane(kind);
    workers = plane.startWorkers();
  });
  afterAll(async () => plane?.close());

  describe('apps', () => {
    it('creates, lists and gets an app owned by the caller', async () => {
      const created = await plane.caller('deployer').apps.create({ name: 'billing' });
      expect(created).toMatchObject({ name: 'billing', owner: 'deployer-user' });
      const list = await plane.caller('reader').apps.list();
      expect(list.map((a) => a.name)).toContain('billing');
      expect(list.find((a) => a.name === 'billing')).toMatchObject({ current: null, latest: null });
      expect(await plane.caller('reader').apps.get({ app_name: 'billing' })).toMatchObject({ id: created.id });
    });

    it('refuses a duplicate name, a non-DNS name, a reader and an anonymous caller, changing nothing', async () => {
      const before = await counts(plane);
      await expectCode(plane.caller('deployer').apps.create({ name: 'billing' }), 'conflict');
      await expectCode(plane.caller('deployer').apps.create({ name: 'Not_A_Label' }), 'BAD_REQUEST');
      await expectCode(plane.caller('reader').apps.create({ name: 'reader-app' }), 'forbidden');
      await expectCode(plane.caller(null).apps.create({ name: 'anon-app' }), 'unauthorized');
      await expectCode(plane.caller('reader').apps.get({ app_name: 'nope' }), 'not_found');
      expect(await counts(plane)).toEqual(before);
    });
  });

  describe('artifacts', () => {
    beforeAll(async () => {
      await plane.caller('deployer').apps.create({ name: 'store' });
    });

    it('uploads through a presigned URL and is verified by the complete itself: stored in its answer', async () => {
      const bytes = tarGz({ 'package.json': '{"name":"store"}', 'index.js': 'console.log(1)' });
      const timed = async () => (await plane.services.metrics.artifactCompleteToStored.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
      const timedBefore = await timed();
      const { digest, presigned, completed } = await uploadArtifact(plane, 'store', bytes);
      // Complete -> stored is observed where it happened: here, by the complete.
      expect(await timed()).toBe(timedBefore + 1);
      expect(presigned.method).toBe('PUT');
      expect(presigned.storage_key).toBe(`artifacts/store/${digest}/app.tar.gz`);
      expect(completed).toMatchObject({ status: 'stored', verified: false, duplicate: false });
      const settled = await plane.caller('reader').artifacts.get({ app_name: 'store', digest });
      expect(settled).toMatchObject({ status: 'stored', size_bytes: bytes.length, failure_reason: null });
      const events = await plane.services.db.select().from(artifactEvents).where(eq(artifactEvents.artifactId, completed.artifact_id));
      expect(events.map((e) => [e.type, e.message])).toEqual([['stored', `upload completed; verified ${bytes.length} bytes`]]);
      // Asking again for stored bytes is the fast path: nothing to upload.
      const again = await plane.caller('deployer').artifacts.presign({ app_name: 'store', digest, size_bytes: bytes.length });
      expect(again.method).toBe('NONE');
    });

    it('refuses a PUT of another size than presigned (the URL is bound to it), storing nothing', async () => {
      const bytes = tarGz({ 'x.txt': 'size lies' });
      const digest = sha256(bytes);
      const presigned = await plane.caller('deployer').artifacts.presign({ app_name: 'store', digest, size_bytes: bytes.length + 10 });
      if (presigned.method !== 'PUT') throw new Error('expected PUT');
      const res = await fetch(presigned.upload_url, { method: 'PUT', headers: presigned.headers, body: new Uint8Array(bytes) });
      expect({ status: res.status, body: await res.json() }).toEqual({
        status: 400,
        body: { code: 'size_mismatch', message: `body is ${bytes.length} bytes; the URL was signed for ${bytes.length + 10}` },
      });
      expect(await plane.services.storage.head(presigned.storage_key)).toBeNull();
    });

    it('refuses bytes that do not hash to the digest at upload time', async () => {
      const bytes = tarGz({ 'y.txt': 'real' });
      const digest = sha256(bytes);
      const presigned = await plane.caller('deployer').artifacts.presign({ app_name: 'store', digest, size_bytes: bytes.length });
      if (presigned.method !== 'PUT') throw new Error('expected PUT');
      const res = await fetch(presigned.upload_url, { method: 'PUT', headers: presigned.headers, body: new Uint8Array(tarGz({ 'y.txt': 'fake' })) });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'digest_mismatch' });
      // Completing anyway finds nothing in storage: refused before any state moves.
      await expectCode(plane.caller('deployer').artifacts.complete({ app_name: 'store', digest, size_bytes: bytes.length }), 'not_found');
      expect(await plane.caller('reader').artifacts.get({ app_name: 'store', digest })).toMatchObject({ status: 'pending' });
    });

    it('rejects bad input with the right code and changes nothing', async () => {
      const before = await counts(plane);
      await expectCode(plane.caller('deployer').artifacts.presign({ app_name: 'ghost', digest: DIGEST, size_bytes: 1 }), 'not_found');
      await expectCode(plane.caller('deployer').artifacts.presign({ app_name: 'store', digest: 'xyz', size_bytes: 1 }), 'BAD_REQUEST');
      await expectCode(plane.caller('deployer').artifacts.presign({ app_name: 'store', digest: DIGEST.toUpperCase(), size_bytes: 1 }), 'BAD_REQUEST');
      await expectCode(plane.caller('deployer').artifacts.presign({ app_name: 'store', digest: DIGEST, size_bytes: -1 }), 'BAD_REQUEST');
      await expectCode(plane.caller('reader').artifacts.presign({ app_name: 'store', digest: DIGEST, size_bytes: 1 }), 'forbidden');
      await expectCode(plane.caller('deployer').artifacts.complete({ app_name: 'store', digest: DIGEST, size_bytes: 1 }), 'not_found');
      await expectCode(plane.caller('reader').artifacts.get({ app_name: 'store', digest: DIGEST }), 'not_found');
      expect(await counts(plane)).toEqual(before);
    });

    it('rejects a complete whose size disagrees with the presign, leaving the artifact pending', async () => {
      const bytes = tarGz({ 'z.txt': 'zzz' });
      const digest = sha256(bytes);
      await plane.caller('deployer').artifacts.presign({ app_name: 'store', digest, size_bytes: bytes.length });
      await expectCode(plane.caller('deployer').artifacts.complete({ app_name: 'store', digest, size_bytes: bytes.length + 1 }), 'size_mismatch');
      expect(await plane.caller('reader').artifacts.get({ app_name: 'store', digest })).toMatchObject({ status: 'pending' });
    });

    it('rejects an idempotency key reused for another digest', async () => {
      const one = tarGz({ 'one.txt': '1' });
      const two = tarGz({ 'two.txt': '2' });
      const caller = plane.caller('deployer');
      for (const bytes of [one, two]) {
        const presigned = await caller.artifacts.presign({ app_name: 'store', digest: sha256(bytes), size_bytes: bytes.length });
        expect((await fetch(presigned.upload_url, { method: 'PUT', headers: presigned.headers, body: new Uint8Array(bytes) })).status).toBe(200);
      }
      await caller.artifacts.complete({ app_name: 'store', digest: sha256(one), size_bytes: one.length, idempotency_key: 'k-1' });
      await expectCode(caller.artifacts.complete({ app_name: 'store', digest: sha256(two), size_bytes: two.length, idempotency_key: 'k-1' }), 'idempotency_conflict');
      expect(await caller.artifacts.get({ app_name: 'store', digest: sha256(two) })).toMatchObject({ status: 'pending' });
    });
  });

  describe('deployments', () => {
    const appSource = (text: string) => ({
      'package.json': JSON.stringify({ name: 'web', scripts: { start: 'node index.js' } }),
      'index.js': `require('http').createServer((q, s) => s.end(${JSON.stringify(text)})).listen(process.env.PORT, '127.0.0.1'); console.log('listening');`,
    });

    beforeAll(async () => {
      await plane.caller('deployer').apps.create({ name: 'web' });
    });

    it('refuses to deploy an artifact that is not stored, changing nothing', async () => {
      const bytes = tarGz({ 'n.txt': 'not stored' });
      await plane.caller('deployer').artifacts.presign({ app_name: 'web', digest: sha256(bytes), size_bytes: bytes.length });
      const before = await counts(plane);
      await expectCode(plane.caller('deployer').deployments.create({ app_name: 'web', digest: sha256(bytes) }), 'conflict');
      await expectCode(plane.caller('deployer').deployments.create({ app_name: 'web', digest: DIGEST }), 'not_found');
      await expectCode(plane.caller('reader').deployments.create({ app_name: 'web', digest: sha256(bytes) }), 'forbidden');
      await expectCode(plane.caller('reader').deployments.get({ id: '00000000-0000-4000-8000-000000000000' }), 'not_found');
      expect(await counts(plane)).toEqual(before);
    });

    it('refuses at complete a signature no key of the app verifies, deleting the upload', async () => {
      const bytes = tarGz({ 'forged.txt': 'signed by nobody' });
      const digest = sha256(bytes);
      const presigned = await plane.caller('deployer').artifacts.presign({ app_name: 'web', digest, size_bytes: bytes.length });
      await fetch(presigned.upload_url, { method: 'PUT', headers: presigned.headers, body: new Uint8Array(bytes) });
      const complete = plane.caller('deployer').artifacts.complete({ app_name: 'web', digest, size_bytes: bytes.length, signature: 'ab'.repeat(64) });
      await expectCode(complete, 'bad_request');
      expect(await complete.catch((e: unknown) => (e as Error).message)).toMatch(/^signature verification failed: .*refused and deleted$/);
      expect(await plane.caller('reader').artifacts.get({ app_name: 'web', digest })).toMatchObject({ status: 'failed', failure_reason: 'signature_invalid' });
      expect(await plane.services.storage.head(presigned.storage_key)).toBeNull();
    });

    it('deploys right after the upload completes: the request waits for verification by the job', async () => {
      // Verification in a job, as when it needs a download (S3 with AETHER_VERIFY_REMOTE_HASH).
      plane.services.env.AETHER_VERIFY_INLINE = false;
      await workers.stop(); // verification cannot happen until the workers are back
      let restarted = false;
      try {
        const good = tarGz(appSource('verified first'));
        const { digest } = await uploadArtifact(plane, 'web', good);
        expect(await plane.caller('reader').artifacts.get({ app_name: 'web', digest })).toMatchObject({ status: 'verifying' });
        let settled = false;
        const creating = plane.caller('deployer').deployments.create({ app_name: 'web', digest }).finally(() => (settled = true));
        await new Promise((r) => setTimeout(r, 300));
        expect(settled).toBe(false);

        // Signed, but by no key of the app: its verification fails.
        const bad = tarGz({ 'unsigned.txt': 'signature by nobody' });
        const badDigest = sha256(bad);
        const presigned = await plane.caller('deployer').artifacts.presign({ app_name: 'web', digest: badDigest, size_bytes: bad.length });
        await fetch(presigned.upload_url, { method: 'PUT', headers: presigned.headers, body: new Uint8Array(bad) });
        await plane.caller('deployer').artifacts.complete({ app_name: 'web', digest: badDigest, size_bytes: bad.length, signature: 'ab'.repeat(64) });
        const refusing = plane.caller('deployer').deployments.create({ app_name: 'web', digest: badDigest }).then(
          () => null,
          (e: unknown) => e as TRPCError,
        );

        workers = plane.startWorkers();
        restarted = true;
        const created = await creating;
        expect(created.created).toBe(true);
        expect(created.deployment.digest).toBe(digest);
        expect(await plane.caller('reader').artifacts.get({ app_name: 'web', digest })).toMatchObject({ status: 'stored' });
        // A failed verification is refused, naming why, with no deployment made of it.
        const refused = await refusing;
        expect(refused?.code).toBe('CONFLICT');
        expect(refused?.message).toMatch(/artifact is failed, not stored \(verification failed: .*signature/);
        const made = await plane.services.db.select().from(deployments);
        expect(made.some((d) => d.digest === badDigest)).toBe(false);
        expect((await plane.caller('reader').deployments.wait({ id: created.deployment.id, timeout_ms: 30_000 })).status).toBe('running');
      } finally {
        plane.services.env.AETHER_VERIFY_INLINE = true;
        if (!restarted) workers = plane.startWorkers();
      }
    });

    it('rolls a stored artifact out to a running process, recording every phase, then replaces it', async () => {
      const v1 = tarGz(appSource('hello v1'));
      const { digest: d1 } = await uploadArtifact(plane, 'web', v1);
      await plane.caller('reader').artifacts.wait({ app_name: 'web', digest: d1, timeout_ms: 15_000 });

      const first = await plane.caller('deployer').deployments.create({ app_name: 'web', digest: d1 });
      expect(first.created).toBe(true);
      // Idempotent while in flight: the same app + digest joins the same deployment.
      const joined = await plane.caller('deployer').deployments.create({ app_name: 'web', digest: d1 });
      expect(joined.deployment.id).toBe(first.deployment.id);
      expect(joined.created).toBe(false);

      const running = await plane.caller('reader').deployments.wait({ id: first.deployment.id, timeout_ms: 30_000 });
      expect(running.status).toBe('running');
      expect(await (await fetch(running.url!)).text()).toBe('hello v1');
      const phases = (await plane.caller('reader').deployments.events({ id: first.deployment.id })).map((e) => e.phase);
      expect(phases).toEqual(['created', 'rolling_out', 'fetch', 'verify', 'unpack', 'start', 'health', 'switch', 'running']);

      const v2 = tarGz(appSource('hello v2'));
      const { digest: d2 } = await uploadArtifact(plane, 'web', v2);
      await plane.caller('reader').artifacts.wait({ app_name: 'web', digest: d2, timeout_ms: 15_000 });
      const second = await plane.caller('deployer').deployments.create({ app_name: 'web', digest: d2 });
      const running2 = await plane.caller('reader').deployments.wait({ id: second.deployment.id, timeout_ms: 30_000 });
      expect(running2.status).toBe('running');
      expect(await (await fetch(running2.url!)).text()).toBe('hello v2');
      expect(await plane.caller('reader').deployments.get({ id: first.deployment.id })).toMatchObject({ status: 'superseded' });
      // One stable address: the first deployment's URL is the app's, serving v2 now.
      expect(running2.url).toBe(running.url);
      expect(await (await fetch(running.url!)).text()).toBe('hello v2');

      const [app] = (await plane.caller('reader').apps.list()).filter((a) => a.name === 'web');
      expect(app?.current?.id).toBe(second.deployment.id);
    });

    it('ends failed with the reason and output when the app crashes, and the previous keeps serving', async () => {
      const broken = tarGz({
        'package.json': JSON.stringify({ name: 'web', scripts: { start: 'node index.js' } }),
        'index.js': "console.error('boom: missing config'); process.exit(3);",
      });
      const { digest } = await uploadArtifact(plane, 'web', broken);
      await plane.caller('reader').artifacts.wait({ app_name: 'web', digest, timeout_ms: 15_000 });
      const { deployment } = await plane.caller('deployer').deployments.create({ app_name: 'web', digest });
      const failed = await plane.caller('reader').deployments.wait({ id: deployment.id, timeout_ms: 30_000 });
      expect(failed).toMatchObject({ status: 'failed', failure_reason: 'crashed_on_start' });
      const events = await plane.caller('reader').deployments.events({ id: deployment.id });
      expect(events.at(-1)?.message).toContain('boom: missing config');
      const [app] = (await plane.caller('reader').apps.list()).filter((a) => a.name === 'web');
      expect(app?.current?.status).toBe('running');
      expect(await (await fetch(app!.current!.url!)).text()).toBe('hello v2');
    });
  });

  describe('over HTTP', () => {
    const trpc = (path: string, init: RequestInit & { token?: string } = {}) =>
      fetch(`${plane.url}/api/trpc/${path}`, {
        ...init,
        headers: { 'content-type': 'application/json', ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) },
      });

    it('carries the stable error code and HTTP status for missing, bad and under-privileged tokens', async () => {
      const noToken = await trpc('apps.list');
      expect(noToken.status).toBe(401);
      expect(((await noToken.json()) as { error: { data: { code: string } } }).error.data.code).toBe('unauthorized');

      const badToken = await trpc('apps.list', { token: 'not-a-real-token' });
      expect(badToken.status).toBe(401);

      const reader = await trpc('apps.create', { method: 'POST', token: 'test-reader-token-0001', body: JSON.stringify({ name: 'http-app' }) });
      expect(reader.status).toBe(403);
      expect(((await reader.json()) as { error: { data: { code: string } } }).error.data.code).toBe('forbidden');

      const invalid = await trpc('apps.create', { method: 'POST', token: 'test-deployer-token-0001', body: JSON.stringify({ name: '-bad-' }) });
      expect(invalid.status).toBe(400);
      const body = (await invalid.json()) as { error: { message: string; data: { code: string } } };
      expect(body.error.data.code).toBe('bad_request');
      expect(body.error.message).toMatch(/^invalid input: name:/);
    });

    it('serves a deployer the whole create flow with its token', async () => {
      const res = await trpc('apps.create', { method: 'POST', token: 'test-deployer-token-0001', body: JSON.stringify({ name: 'http-app' }) });
      expect(res.status).toBe(200);
      const list = await trpc('apps.list', { token: 'test-reader-token-0001' });
      const names = ((await list.json()) as { result: { data: Array<{ name: string }> } }).result.data.map((a) => a.name);
      expect(names).toContain('http-app');
    });
  });
});
