import { gzipSync } from 'node:zlib';
import { sha256, tarBytes } from './artifacts';
import type { TestPlane } from './harness';

/**
 * Artifacts whose size does not depend on their content (gzip level 0 stores the tar as is),
 * so byte quotas can be raced with an exact number of winners.
 */
export function fixedSizeArtifact(seed: string, contentBytes = 256): Buffer {
  const body = seed.padEnd(contentBytes, '.').slice(0, contentBytes);
  if (seed.length > contentBytes) throw new Error('seed longer than the content');
  return gzipSync(tarBytes({ 'package.json': '{"name":"fixed"}', 'data.txt': body }), { level: 0 });
}

export interface Staged {
  digest: string;
  sizeBytes: number;
}

/** Steps 1 and 2 of an upload (presign, PUT the bytes), leaving the complete to the test. */
export async function stageUpload(plane: TestPlane, app: string, bytes: Buffer): Promise<Staged> {
  const digest = sha256(bytes);
  const presigned = await plane.caller('deployer').artifacts.presign({ app_name: app, digest, size_bytes: bytes.length });
  if (presigned.method !== 'PUT') throw new Error(`expected a PUT for ${digest.slice(0, 12)}, got ${presigned.method}`);
  const res = await fetch(presigned.upload_url, { method: 'PUT', headers: presigned.headers, body: new Uint8Array(bytes) });
  if (!res.ok) throw new Error(`PUT failed: ${res.status} ${await res.text()}`);
  return { digest, sizeBytes: bytes.length };
}

/** Polls `get` until the artifact leaves `verifying` (or `timeoutMs` passes); returns its last state. */
export async function pollSettled(plane: TestPlane, app: string, digest: string, timeoutMs = 20_000, everyMs = 25) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const a = await plane.caller('reader').artifacts.get({ app_name: app, digest });
    if (a.status !== 'verifying' && a.status !== 'pending') return a;
    if (Date.now() > deadline) return a;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
