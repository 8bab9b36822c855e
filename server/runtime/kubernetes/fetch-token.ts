import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Per-deployment artifact fetch tokens: HMAC(key, deployment id). Stateless (nothing stored),
 * scoped to one deployment, valid for as long as the secret is, so a pod restarted days later
 * still fetches. The key is derived from the configured secret under its own tag, so a fetch
 * token can never pass for a storage URL signature made with the same secret.
 */

const KEY_TAG = 'aether-runtime-fetch-v1';
const TOKEN_RE = /^[0-9a-f]{64}$/;

export function fetchTokenKey(secret: string | Buffer): Buffer {
  return createHmac('sha256', secret).update(KEY_TAG).digest();
}

export function fetchToken(key: Buffer, deploymentId: string): string {
  return createHmac('sha256', key).update(deploymentId).digest('hex');
}

/** Constant-time check of a presented token. */
export function isValidFetchToken(key: Buffer, deploymentId: string, presented: string): boolean {
  if (!TOKEN_RE.test(presented)) return false;
  return timingSafeEqual(Buffer.from(fetchToken(key, deploymentId), 'hex'), Buffer.from(presented, 'hex'));
}

/** The fetch token key of this control plane, or null when no secret is configured for it. */
export function fetchTokenKeyFromEnv(env: { AETHER_RUNTIME_FETCH_SECRET?: string; AETHER_STORAGE_SECRET?: string }): Buffer | null {
  const secret = env.AETHER_RUNTIME_FETCH_SECRET ?? env.AETHER_STORAGE_SECRET;
  return secret ? fetchTokenKey(secret) : null;
}
