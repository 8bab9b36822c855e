import type { TestPlane } from './harness';
import { sha256 } from './artifacts';

/** The CLI's upload flow, by hand: presign, PUT the bytes to the presigned URL, complete. */
export async function uploadArtifact(plane: TestPlane, app: string, bytes: Buffer, opts: { declaredSize?: number } = {}) {
  const digest = sha256(bytes);
  const caller = plane.caller('deployer');
  const sizeBytes = opts.declaredSize ?? bytes.length;
  const presigned = await caller.artifacts.presign({ app_name: app, digest, size_bytes: sizeBytes });
  if (presigned.method === 'PUT') {
    const res = await fetch(presigned.upload_url, { method: 'PUT', headers: presigned.headers, body: new Uint8Array(bytes) });
    if (!res.ok) throw new Error(`PUT failed: ${res.status} ${await res.text()}`);
  }
  const completed = await caller.artifacts.complete({ app_name: app, digest, size_bytes: sizeBytes });
  return { digest, presigned, completed };
}
