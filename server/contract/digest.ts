import { z } from 'zod';

/** An artifact digest: the lowercase hex sha256 of the exact artifact bytes. */
export const DIGEST_RE = /^[0-9a-f]{64}$/;

export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && DIGEST_RE.test(value);
}

export const ZDigest = z.string().regex(DIGEST_RE, 'digest must be 64 lowercase hex characters (sha256)');

/** Where an artifact lives in object storage: content-addressed, per app. */
export function artifactStorageKey(appName: string, digest: string): string {
  return `artifacts/${appName}/${digest}/app.tar.gz`;
}

/**
 * The digest an `artifact_url` names (the seed's deploy body: a storage key or a URL): its first
 * path or query segment of 64 lowercase hex characters; null when it names none.
 */
export function digestOfArtifactUrl(artifactUrl: string): string | null {
  return artifactUrl.split(/[/?&=]/).find((segment) => DIGEST_RE.test(segment)) ?? null;
}
