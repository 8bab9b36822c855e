import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { tarGz } from './artifacts';
import { callOk, type Face, type PlaneUrl } from './faces';
import type { TestPlane } from './harness';
import { uploadArtifact } from './upload';

/**
 * tests/fixtures/env-app: an app that answers with its own environment (`GET /env/<NAME>`,
 * `GET /env?names=A,B`), is healthy on `/ready` (and only there with ONLY_READY=1), and exits 1
 * at start with CRASH_ON_START=1. What config tests deploy to see what the process got.
 */
const FIXTURE = path.resolve(import.meta.dirname, '../fixtures/env-app');

/** The fixture as an artifact; `extra` files make a different artifact (digest) of the same app. */
export function envAppArtifact(extra: Record<string, string> = {}): Buffer {
  const files: Record<string, string> = {};
  for (const name of readdirSync(FIXTURE)) files[name] = readFileSync(path.join(FIXTURE, name), 'utf8');
  return tarGz({ ...files, ...extra });
}

/** Uploads `bytes` for `app`, verified by the complete itself; returns the digest. */
export async function storeArtifact(plane: TestPlane, app: string, bytes: Buffer): Promise<string> {
  const { completed, digest } = await uploadArtifact(plane, app, bytes);
  if (completed.status !== 'stored') throw new Error(`artifact ${digest} of ${app} is ${completed.status}, not stored`);
  return digest;
}

export interface DeploymentView {
  id: string;
  status: string;
  failure_reason: string | null;
  url: string | null;
  digest: string;
  rollback_of: string | null;
}

const SETTLED = new Set(['running', 'failed', 'superseded', 'rolled_back']);

/** Long-polls `id` over `face` until it is no longer pending or rolling out. */
export async function settle(plane: PlaneUrl, face: Face, id: string, timeoutMs = 120_000): Promise<DeploymentView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const d = await callOk<DeploymentView>(plane, face, { op: 'waitDeployment', input: { id, timeout_ms: 20_000 }, token: 'reader' });
    if (SETTLED.has(d.status) || Date.now() > deadline) return d;
  }
}

/** What the app's process has for `name` (null when unset), asked over HTTP at `url`. */
export async function appEnv(url: string | null, name: string): Promise<string | null> {
  if (!url) throw new Error('the deployment has no URL');
  const res = await fetch(`${url}/env/${name}`);
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`GET ${url}/env/${name}: ${res.status}`);
  return res.text();
}
