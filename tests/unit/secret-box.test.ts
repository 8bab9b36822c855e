import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isAppError, type AppError } from '../../server/errors';
import { createSecretBox, decodeSecretsKey, keyIdOf, sealedPrefixOf } from '../../server/secrets/secret-box';

const keyA = randomBytes(32);
const keyB = randomBytes(32);
const APP = '6f1c3a52-0b7e-4a4e-9d59-1f4f0c2f8a11';
const ctx = `${APP}/DATABASE_URL`;
const VALUE = 'postgres://svc:s3cr3t-canary-9f2e@db:5432/app';

function appErrorOf(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (isAppError(err)) return err;
    throw err;
  }
  throw new Error('expected an AppError');
}

const b64url = (b: Buffer) => b.toString('base64url');

/** Rewrites one dot-separated part of a sealed value (flipping a bit of its bytes). */
function flipBit(sealed: string, part: 2 | 3, byte = 0): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[part]!, 'base64url');
  bytes[byte < 0 ? bytes.length + byte : byte]! ^= 0x01;
  parts[part] = b64url(bytes);
  return parts.join('.');
}

describe('SecretBox', () => {
  const box = createSecretBox({ current: keyA });

  it('seals to v1.<keyId>.<nonce>.<ciphertext||tag> and opens back to the plaintext', () => {
    const sealed = box.seal(VALUE, ctx);
    const [format, keyId, nonce, body, ...rest] = sealed.split('.');
    expect([format, keyId, rest]).toEqual(['v1', keyIdOf(keyA), []]);
    expect(box.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(Buffer.from(nonce!, 'base64url')).toHaveLength(12);
    // GCM: ciphertext as long as the plaintext, then a 16-byte tag.
    expect(Buffer.from(body!, 'base64url')).toHaveLength(Buffer.byteLength(VALUE) + 16);
    expect(sealed).not.toContain(VALUE);
    expect(box.open(sealed, ctx)).toBe(VALUE);
    expect(box.isCurrent(sealed)).toBe(true);
    expect(sealed.startsWith(sealedPrefixOf(box.keyId))).toBe(true);
  });

  it('round-trips the empty string, unicode and a 32 KiB value', () => {
    for (const v of ['', 'päss wörd ✓ 🔑', 'x'.repeat(32 * 1024)]) expect(box.open(box.seal(v, ctx), ctx)).toBe(v);
  });

  it('draws a fresh nonce per seal: the same value never seals twice alike', () => {
    const sealed = Array.from({ length: 200 }, () => box.seal(VALUE, ctx));
    expect(new Set(sealed).size).toBe(200);
    expect(new Set(sealed.map((s) => s.split('.')[2])).size).toBe(200);
  });

  it('refuses a tampered nonce, ciphertext or tag, naming the key and not the value', () => {
    const sealed = box.seal(VALUE, ctx);
    for (const tampered of [flipBit(sealed, 2), flipBit(sealed, 3, 0), flipBit(sealed, 3, -1)]) {
      const err = appErrorOf(() => box.open(tampered, ctx));
      expect(err.code).toBe('internal');
      expect(err.message).toBe(`secret sealed under key ${box.keyId} failed authentication`);
      expect(err.message).not.toContain(VALUE);
    }
  });

  it('refuses a value opened under another context (another app or name)', () => {
    const sealed = box.seal(VALUE, ctx);
    for (const other of [`${APP}/API_KEY`, `7a1c3a52-0b7e-4a4e-9d59-1f4f0c2f8a11/DATABASE_URL`, '']) {
      expect(appErrorOf(() => box.open(sealed, other)).message).toBe(`secret sealed under key ${box.keyId} failed authentication`);
    }
  });

  it('refuses malformed values without echoing them', () => {
    for (const junk of ['', VALUE, 'v1.abc', `v2.${box.keyId}.AAAA.AAAA`, `v1.${box.keyId}.${b64url(randomBytes(8))}.${b64url(randomBytes(32))}`, `v1.${box.keyId}.${b64url(randomBytes(12))}.AAAA`]) {
      const err = appErrorOf(() => box.open(junk, ctx));
      expect(err.code).toBe('internal');
      expect(err.message).toBe('sealed secret is malformed (not a v1 ciphertext)');
    }
  });

  it('opens values sealed under the previous key after a rotation, and seals under the new one', () => {
    const before = createSecretBox({ current: keyA }).seal(VALUE, ctx);
    const rotated = createSecretBox({ current: keyB, previous: keyA });
    expect(rotated.keyId).toBe(keyIdOf(keyB));
    expect(rotated.isCurrent(before)).toBe(false);
    expect(rotated.open(before, ctx)).toBe(VALUE);
    const after = rotated.seal(VALUE, ctx);
    expect(rotated.isCurrent(after)).toBe(true);
    expect(after.split('.')[1]).toBe(keyIdOf(keyB));
    // Once the previous key is dropped, the old value no longer opens; the new one does.
    const dropped = createSecretBox({ current: keyB });
    expect(dropped.open(after, ctx)).toBe(VALUE);
    expect(appErrorOf(() => dropped.open(before, ctx)).message).toContain(keyIdOf(keyA));
  });

  it('refuses a value under an unknown key, naming that key id', () => {
    const stranger = createSecretBox({ current: randomBytes(32) });
    const sealed = stranger.seal(VALUE, ctx);
    const err = appErrorOf(() => box.open(sealed, ctx));
    expect(err.code).toBe('internal');
    expect(err.message).toBe(`secret sealed under key ${stranger.keyId}, which is neither the current nor the previous secrets key`);
  });

  it('derives the key id from the key alone, without revealing it', () => {
    expect(keyIdOf(keyA)).toBe(keyIdOf(Buffer.from(keyA)));
    expect(keyIdOf(keyA)).not.toBe(keyIdOf(keyB));
    expect(keyIdOf(keyA)).not.toBe(keyA.toString('hex').slice(0, 16));
  });

  it('refuses keys that are not 32 bytes, without printing them', () => {
    const short = Buffer.from('0123456789abcdef');
    expect(() => createSecretBox({ current: short })).toThrow('the current secrets key must be 32 bytes, not 16 (generate one: openssl rand -base64 32)');
    expect(() => createSecretBox({ current: keyA, previous: randomBytes(64) })).toThrow('the previous secrets key must be 32 bytes, not 64');
    try {
      createSecretBox({ current: short });
    } catch (err) {
      expect((err as Error).message).not.toContain(short.toString('utf8'));
    }
  });
});

describe('decodeSecretsKey', () => {
  it('reads base64 and base64url of 32 bytes, ignoring surrounding whitespace', () => {
    expect(decodeSecretsKey(keyA.toString('base64'))).toEqual(keyA);
    expect(decodeSecretsKey(`  ${keyA.toString('base64')}\n`)).toEqual(keyA);
    const urlish = Buffer.from(Array.from({ length: 32 }, () => 0xfb));
    expect(decodeSecretsKey(urlish.toString('base64url'))).toEqual(urlish);
  });

  it('refuses other lengths and non-base64 text, quoting neither', () => {
    expect(() => decodeSecretsKey(randomBytes(16).toString('base64'))).toThrow('must be base64 of 32 bytes, not 16 (generate one: openssl rand -base64 32)');
    expect(() => decodeSecretsKey('not a key!')).toThrow(/^must be base64 of 32 bytes \(generate one/);
    expect(() => decodeSecretsKey('')).toThrow(/^must be base64 of 32 bytes/);
  });
});
