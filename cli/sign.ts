/**
 * Ed25519 signing of artifact digests on the CLI side, with node:crypto only. Mirrors the
 * signing half of server/services/keys/signature.ts (which the CLI must not import); the wire
 * formats are the same: keys are the raw 32 bytes as 64 lowercase hex, a signature the raw 64
 * bytes as 128 lowercase hex, and the signed message is the ASCII digest string itself.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { CliError, EXIT } from './errors.js';
import { packTempPath } from './pack/ignore-rules.js';

/** Where the private key comes from: 64 hex characters, the raw 32-byte Ed25519 seed. */
export const SIGNING_KEY_ENV = 'AETHER_SIGNING_KEY';

export interface SigningEnv {
  AETHER_SIGNING_KEY?: string;
}

const HEX64_RE = /^[0-9a-f]{64}$/;
// DER wrappers that turn raw key bytes into PKCS#8 / SPKI documents node can import (RFC 8410).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
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

function privateKeyObject(seedHex: string): KeyObject {
  const seed = seedHex.toLowerCase();
  if (!HEX64_RE.test(seed)) throw new TypeError('signing seed must be 64 hex characters');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, Buffer.from(seed, 'hex')]), format: 'der', type: 'pkcs8' });
}

/** The 128-hex Ed25519 signature of the ASCII string `digestHex` (64 lowercase hex). */
export function signDigest(seedHex: string, digestHex: string): string {
  if (!HEX64_RE.test(digestHex)) throw new TypeError('digest must be 64 lowercase hex characters');
  return sign(null, Buffer.from(digestHex, 'ascii'), privateKeyObject(seedHex)).toString('hex');
}

/** The raw public key (64 hex) of a seed (64 hex): what `aether keys add` registers. */
export function publicKeyFromSeed(seedHex: string): string {
  const spki = createPublicKey(privateKeyObject(seedHex)).export({ format: 'der', type: 'spki' });
  return spki.subarray(SPKI_PREFIX.length).toString('hex');
}

/** A fresh key pair: the 32-byte seed and the raw public key, both as lowercase hex. */
export function generateSigningKeyPair(): { seedHex: string; publicKeyHex: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    seedHex: privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length).toString('hex'),
    publicKeyHex: publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length).toString('hex'),
  };
}

/** `SHA256:` + unpadded base64 of sha256(raw key), as the server and `ssh-keygen -l` show it. */
export function publicKeyFingerprint(publicKeyHex: string): string {
  const b64 = createHash('sha256').update(Buffer.from(publicKeyHex, 'hex')).digest('base64');
  return `SHA256:${b64.replace(/=+$/, '')}`;
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
