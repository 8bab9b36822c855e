import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  generateSigningKeyPair,
  isUsablePublicKey,
  publicKeyFingerprint,
  publicKeyFromSeed,
  signDigest,
  verifyDigestSignature,
} from '../../server/contract/ed25519';

const digestOf = (text: string) => createHash('sha256').update(text).digest('hex');
const DIGEST = digestOf('artifact bytes');

// RFC 8032 §7.1, TEST 1: the empty message.
const RFC_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const RFC_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const RFC_SIG =
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

// The canonical encodings of the eight points of order 1, 2, 4 and 8 (libsodium's blocklist).
const SMALL_ORDER = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
];
/** y = 2 has no x on the curve (x² would be a non-square). */
const NOT_A_POINT = '02'.padEnd(64, '0');

const flipBit = (hex: string, bit: number) => {
  const b = Buffer.from(hex, 'hex');
  b.writeUInt8(b.readUInt8(bit >> 3) ^ (1 << (bit & 7)), bit >> 3);
  return b.toString('hex');
};

describe('Ed25519 digest signatures', () => {
  it('round-trips: a generated pair signs the ASCII digest and verifies', () => {
    const { privateSeedHex, publicKeyHex } = generateSigningKeyPair();
    expect(privateSeedHex).toMatch(/^[0-9a-f]{64}$/);
    expect(publicKeyHex).toMatch(/^[0-9a-f]{64}$/);
    expect(publicKeyFromSeed(privateSeedHex)).toBe(publicKeyHex);
    const sig = signDigest(privateSeedHex, DIGEST);
    expect(sig).toMatch(/^[0-9a-f]{128}$/);
    expect(verifyDigestSignature(publicKeyHex, DIGEST, sig)).toBe(true);
    // The message is the 64-char string, not the 32 bytes it encodes.
    const pub = createPublicKey(createPrivateKey({ key: Buffer.from(`302e020100300506032b657004220420${privateSeedHex}`, 'hex'), format: 'der', type: 'pkcs8' }));
    expect(verify(null, Buffer.from(DIGEST, 'ascii'), pub, Buffer.from(sig, 'hex'))).toBe(true);
    expect(verify(null, Buffer.from(DIGEST, 'hex'), pub, Buffer.from(sig, 'hex'))).toBe(false);
  });

  it('is deterministic for a seed (Ed25519 has no per-signature randomness)', () => {
    expect(signDigest(RFC_SEED, DIGEST)).toBe(signDigest(RFC_SEED, DIGEST));
  });

  it('matches RFC 8032 test 1 through the same DER plumbing', () => {
    expect(publicKeyFromSeed(RFC_SEED)).toBe(RFC_PUBLIC);
    const priv = createPrivateKey({ key: Buffer.from(`302e020100300506032b657004220420${RFC_SEED}`, 'hex'), format: 'der', type: 'pkcs8' });
    expect(sign(null, Buffer.alloc(0), priv).toString('hex')).toBe(RFC_SIG);
    const pub = createPublicKey({ key: Buffer.from(`302a300506032b6570032100${RFC_PUBLIC}`, 'hex'), format: 'der', type: 'spki' });
    expect(verify(null, Buffer.alloc(0), pub, Buffer.from(RFC_SIG, 'hex'))).toBe(true);
    // And our wrapper verifies what the RFC key signs over a digest.
    expect(verifyDigestSignature(RFC_PUBLIC, DIGEST, signDigest(RFC_SEED, DIGEST))).toBe(true);
  });

  it('refuses a wrong digest, a wrong key and any flipped signature bit', () => {
    const a = generateSigningKeyPair();
    const b = generateSigningKeyPair();
    const sig = signDigest(a.privateSeedHex, DIGEST);
    expect(verifyDigestSignature(a.publicKeyHex, digestOf('other bytes'), sig)).toBe(false);
    expect(verifyDigestSignature(b.publicKeyHex, DIGEST, sig)).toBe(false);
    for (const bit of [0, 7, 255, 256, 300, 511]) expect(verifyDigestSignature(a.publicKeyHex, DIGEST, flipBit(sig, bit)), `bit ${bit}`).toBe(false);
  });

  it('returns false, never throws, on malformed input', () => {
    const { privateSeedHex, publicKeyHex } = generateSigningKeyPair();
    const sig = signDigest(privateSeedHex, DIGEST);
    const cases: Array<[string, string, string]> = [
      [publicKeyHex.slice(1), DIGEST, sig],
      [`${publicKeyHex}0`, DIGEST, sig],
      [publicKeyHex.toUpperCase(), DIGEST, sig],
      [`${publicKeyHex.slice(0, 63)}g`, DIGEST, sig],
      [publicKeyHex, DIGEST.slice(1), sig],
      [publicKeyHex, `${DIGEST}0`, sig],
      [publicKeyHex, DIGEST.toUpperCase(), sig],
      [publicKeyHex, DIGEST, sig.slice(1)],
      [publicKeyHex, DIGEST, `${sig}00`],
      [publicKeyHex, DIGEST, sig.toUpperCase()],
      [publicKeyHex, DIGEST, `${sig.slice(0, 127)}z`],
      [publicKeyHex, DIGEST, ''],
      ['', '', ''],
      [NOT_A_POINT, DIGEST, sig],
    ];
    for (const [k, d, s] of cases) expect(verifyDigestSignature(k, d, s), `${k.length}/${d.length}/${s.length}`).toBe(false);
    const junk = [undefined, null, 42, {}] as unknown as string[];
    for (const j of junk) expect(verifyDigestSignature(j, DIGEST, sig)).toBe(false);
  });

  it('throws on a malformed seed or digest when signing (the owner should hear it)', () => {
    expect(() => signDigest('ab', DIGEST)).toThrow(TypeError);
    expect(() => signDigest(RFC_SEED, DIGEST.toUpperCase())).toThrow(TypeError);
  });
});

describe('public key validity', () => {
  it('accepts generated keys and the RFC key', () => {
    expect(isUsablePublicKey(RFC_PUBLIC)).toBe(true);
    for (let i = 0; i < 200; i++) expect(isUsablePublicKey(generateSigningKeyPair().publicKeyHex)).toBe(true);
  });

  it('rejects bytes that are not a canonical curve point, although node imports them', () => {
    expect(() => createPublicKey({ key: Buffer.from(`302a300506032b6570032100${NOT_A_POINT}`, 'hex'), format: 'der', type: 'spki' })).not.toThrow();
    expect(isUsablePublicKey(NOT_A_POINT)).toBe(false);
    // y = p (non-canonical encoding of y = 0) and "x = 0 with the sign bit set".
    expect(isUsablePublicKey('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')).toBe(false);
    expect(isUsablePublicKey('0100000000000000000000000000000000000000000000000000000000000080')).toBe(false);
    // About half of all 32-byte strings decode to a point.
    const onCurve = Array.from({ length: 400 }, () => isUsablePublicKey(randomBytes(32).toString('hex'))).filter(Boolean).length;
    expect(onCurve).toBeGreaterThan(120);
    expect(onCurve).toBeLessThan(280);
  });

  it('rejects small-order keys, with which node verifies a forgery', () => {
    const identity = SMALL_ORDER[0]!;
    const forged = `${identity}${'00'.repeat(32)}`;
    const pub = createPublicKey({ key: Buffer.from(`302a300506032b6570032100${identity}`, 'hex'), format: 'der', type: 'spki' });
    // Why the check exists: OpenSSL accepts R = identity, S = 0 for the identity key.
    expect(verify(null, Buffer.from(DIGEST, 'ascii'), pub, Buffer.from(forged, 'hex'))).toBe(true);
    expect(verifyDigestSignature(identity, DIGEST, forged)).toBe(false);
    for (const k of SMALL_ORDER) expect(isUsablePublicKey(k), k).toBe(false);
  });

  it('rejects wrong length, uppercase and non-hex', () => {
    for (const k of [RFC_PUBLIC.slice(1), `${RFC_PUBLIC}a`, RFC_PUBLIC.toUpperCase(), `${RFC_PUBLIC.slice(0, 63)}x`, '']) expect(isUsablePublicKey(k)).toBe(false);
  });
});

describe('publicKeyFingerprint', () => {
  it('is SHA256: + unpadded base64 of sha256(raw key), like ssh-keygen', () => {
    const fp = publicKeyFingerprint(RFC_PUBLIC);
    expect(fp).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    const expected = createHash('sha256').update(Buffer.from(RFC_PUBLIC, 'hex')).digest('base64').replace(/=+$/, '');
    expect(fp).toBe(`SHA256:${expected}`);
    expect(publicKeyFingerprint(generateSigningKeyPair().publicKeyHex)).not.toBe(fp);
  });
});
