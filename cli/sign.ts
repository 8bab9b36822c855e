/**
 * Artifact signing on the CLI side: the signing key from the environment and the `.sig`
 * sidecar. The Ed25519 itself, and its wire formats, live in server/contract/ed25519.ts, which
 * the server verifies with.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import { publicKeyFromSeed, signDigest } from '../server/contract/ed25519';
import { CliError, EXIT } from './errors.js';
import { packTempPath } from './pack/ignore-rules.js';

/** Where the private key comes from: 64 hex characters, the raw 32-byte Ed25519 seed. */
export const SIGNING_KEY_ENV = 'AETHER_SIGNING_KEY';

export interface SigningEnv {
  AETHER_SIGNING_KEY?: string;
}

const KEY_HINT = 'set AETHER_SIGNING_KEY to the 64 hex characters written by `aether keys generate`, or unset it to deploy unsigned';

/**
 * The signing seed from the environment, lowercased, or null when AETHER_SIGNING_KEY is unset.
 *
 * A malformed key is a configuration error (exit 10, where the seed used its generic 20): the
 * fix is in the user's environment, not a retry. Set-but-empty counts as malformed, because
 * `AETHER_SIGNING_KEY=$(cat missing-file)` must not quietly deploy unsigned. The message never
 * echoes the value.
 */
export function loadSigningKey(env: SigningEnv): string | null {
  const raw = env.AETHER_SIGNING_KEY;
  if (raw === undefined) return null;
  const value = raw.trim().toLowerCase();
  if (!/^[0-9a-f]*$/.test(value)) {
    throw new CliError(EXIT.config, `${SIGNING_KEY_ENV} is not hex: expected 64 hex characters (a 32-byte Ed25519 seed)`, KEY_HINT);
  }
  if (value.length !== 64) {
    throw new CliError(EXIT.config, `${SIGNING_KEY_ENV} has ${value.length} hex characters: expected 64 (a 32-byte Ed25519 seed)`, KEY_HINT);
  }
  return value;
}

/** The signature sidecar of an artifact. */
export function signaturePath(artifactPath: string): string {
  return `${artifactPath}.sig`;
}

export interface ArtifactSignature {
  path: string;
  signatureHex: string;
  publicKeyHex: string;
}

/**
 * Signs the artifact's digest and writes `<artifact>.sig`: exactly the 128 hex characters, no
 * newline (the seed's format), via a temp file and a rename.
 */
export async function signArtifact(opts: { artifactPath: string; digest: string; seedHex: string }): Promise<ArtifactSignature> {
  const signatureHex = signDigest(opts.seedHex, opts.digest);
  const path = signaturePath(opts.artifactPath);
  const tempPath = packTempPath(path);
  try {
    await writeFile(tempPath, signatureHex, { flag: 'wx', mode: 0o644 });
    await rename(tempPath, path);
  } catch (err) {
    await rm(tempPath, { force: true });
    throw err;
  }
  return { path, signatureHex, publicKeyHex: publicKeyFromSeed(opts.seedHex) };
}
