/**
 * Ed25519 over artifact digests, with node:crypto only: the CLI signs with it, the server
 * verifies with it, so both read one definition of the wire formats.
 *
 * Wire formats: a public key is the raw 32-byte key as 64 lowercase hex characters, a private
 * key is the raw 32-byte seed as 64 hex characters, a signature is the raw 64 bytes as 128
 * lowercase hex characters. The signed message is the ASCII digest string itself (the seed's
 * contract), not the 32 bytes it encodes.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

const KEY_HEX_RE = /^[0-9a-f]{64}$/;
const SIGNATURE_HEX_RE = /^[0-9a-f]{128}$/;
const DIGEST_HEX_RE = /^[0-9a-f]{64}$/;

// DER wrappers that turn raw key bytes into SPKI / PKCS#8 documents node can import (RFC 8410).
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

// ---------------------------------------------------------------- point validation

// Curve25519 in twisted Edwards form (RFC 8032 §5.1): -x² + y² = 1 + d·x²·y² over GF(p).
const P = 2n ** 255n - 19n;
const mod = (a: bigint) => ((a % P) + P) % P;

function powMod(base: bigint, exp: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
  }
  return result;
}

const D = mod(-121665n * powMod(121666n, P - 2n));
const SQRT_M1 = powMod(2n, (P - 1n) / 4n);

/** RFC 8032 §5.1.3 point decoding; null when the bytes are not a canonical curve point. */
function decodePoint(raw: Buffer): { x: bigint; y: bigint } | null {
  // Little-endian y with the sign of x in the top bit.
  const le = BigInt(`0x${Buffer.from(raw).reverse().toString('hex')}`);
  const sign = Number(le >> 255n);
  const y = le & ((1n << 255n) - 1n);
  if (y >= P) return null;
  const u = mod(y * y - 1n);
  const v = mod(D * y * y + 1n);
  let x = mod(u * powMod(v, 3n) * powMod(u * powMod(v, 7n), (P - 5n) / 8n));
  const vx2 = mod(v * x * x);
  if (vx2 === mod(-u)) x = mod(x * SQRT_M1);
  else if (vx2 !== u) return null;
  if (x === 0n && sign === 1) return null;
  if (Number(x & 1n) !== sign) x = P - x;
  return { x, y };
}

/** True when 8·point is the neutral element, i.e. the point lies in the small torsion subgroup. */
function hasSmallOrder({ x, y }: { x: bigint; y: bigint }): boolean {
  // Three doublings in extended coordinates (dbl-2008-hwcd with a = -1).
  let [X, Y, Z] = [x, y, 1n];
  for (let i = 0; i < 3; i++) {
    const A = mod(X * X);
    const B = mod(Y * Y);
    const C = mod(2n * Z * Z);
    const E = mod((X + Y) * (X + Y) - A - B);
    const G = mod(B - A);
    const F = mod(G - C);
    const H = mod(-A - B);
    [X, Y, Z] = [mod(E * F), mod(G * H), mod(F * G)];
  }
  return X === 0n && Y === Z;
}

/**
 * Whether `publicKeyHex` is a usable Ed25519 public key: 64 lowercase hex characters that
 * decode to a canonical curve point outside the small-order subgroup.
 *
 * node (OpenSSL 3) imports any 32 bytes as a key, and with a small-order key such as the
 * neutral element it accepts signatures anyone can forge, so registration must check this.
 */
export function isUsablePublicKey(publicKeyHex: string): boolean {
  if (typeof publicKeyHex !== 'string' || !KEY_HEX_RE.test(publicKeyHex)) return false;
  const point = decodePoint(Buffer.from(publicKeyHex, 'hex'));
  return point !== null && !hasSmallOrder(point);
}

// ---------------------------------------------------------------- keys and signatures

function publicKeyObject(publicKeyHex: string): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, Buffer.from(publicKeyHex, 'hex')]), format: 'der', type: 'spki' });
}

/**
 * Whether `signatureHex` is a valid Ed25519 signature by `publicKeyHex` over the ASCII string
 * `digestHex`. Never throws: malformed, uppercase or wrong-length input, and unusable keys
 * (see {@link isUsablePublicKey}), all give false.
 */
export function verifyDigestSignature(publicKeyHex: string, digestHex: string, signatureHex: string): boolean {
  if (typeof digestHex !== 'string' || !DIGEST_HEX_RE.test(digestHex)) return false;
  if (typeof signatureHex !== 'string' || !SIGNATURE_HEX_RE.test(signatureHex)) return false;
  // Re-checked here too: a small-order key already in the table must not make forgeries pass.
  if (!isUsablePublicKey(publicKeyHex)) return false;
  try {
    return verify(null, Buffer.from(digestHex, 'ascii'), publicKeyObject(publicKeyHex), Buffer.from(signatureHex, 'hex'));
  } catch {
    return false;
  }
}

/** `SHA256:` + unpadded base64 of sha256(raw key bytes), as `ssh-keygen -l` prints. */
export function publicKeyFingerprint(publicKeyHex: string): string {
  const b64 = createHash('sha256').update(Buffer.from(publicKeyHex, 'hex')).digest('base64');
  return `SHA256:${b64.replace(/=+$/, '')}`;
}

/** A fresh signing key pair: the 32-byte private seed and the raw public key, both as hex. */
export function generateSigningKeyPair(): { privateSeedHex: string; publicKeyHex: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return {
    privateSeedHex: pkcs8.subarray(PKCS8_PREFIX.length).toString('hex'),
    publicKeyHex: spki.subarray(SPKI_PREFIX.length).toString('hex'),
  };
}

// The seed's case is accepted either way: it names the same 32 bytes, and a user may paste it
// uppercased. The digest's is not, since the ASCII string itself is what gets signed.
function privateKeyObject(privateSeedHex: string): KeyObject {
  const seed = privateSeedHex.toLowerCase();
  if (!KEY_HEX_RE.test(seed)) throw new TypeError('private seed must be 64 hex characters');
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, Buffer.from(seed, 'hex')]), format: 'der', type: 'pkcs8' });
}

/**
 * The 128-hex Ed25519 signature over the ASCII `digestHex` with the 64-hex private seed.
 * Throws on a malformed seed or digest: signing is done by the key's owner, who should hear it.
 */
export function signDigest(privateSeedHex: string, digestHex: string): string {
  if (!DIGEST_HEX_RE.test(digestHex)) throw new TypeError('digest must be 64 lowercase hex characters');
  return sign(null, Buffer.from(digestHex, 'ascii'), privateKeyObject(privateSeedHex)).toString('hex');
}

/** The public key (64 hex) that belongs to a private seed (64 hex): what `aether keys add` registers. */
export function publicKeyFromSeed(privateSeedHex: string): string {
  const spki = createPublicKey(privateKeyObject(privateSeedHex)).export({ format: 'der', type: 'spki' });
  return spki.subarray(SPKI_PREFIX.length).toString('hex');
}
