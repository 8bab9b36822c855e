import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { AppError } from '../errors';

/**
 * Encryption at rest of config secrets. A sealed value is `v1.<keyId>.<nonce>.<ciphertext||tag>`
 * (base64url parts): the key id says which key opens it, so a rotated key keeps reading old
 * values until the re-encryption job has moved them under the new one.
 */
export interface SecretBox {
  /**
   * Id of the current key (first 16 hex of sha256 over a fixed label + the key bytes); stored
   * with every ciphertext.
   */
  readonly keyId: string;
  /**
   * AES-256-GCM (node:crypto), random 12-byte nonce per value, `context` as AAD (binds the value
   * to its app+name).
   */
  seal(plaintext: string, context: string): string;
  /**
   * Opens a value sealed under the current or the previous key; throws AppError('internal', ...)
   * naming the key id (never the value) when it cannot.
   */
  open(sealed: string, context: string): string;
  /** True when `sealed` is under the current key (re-encryption skips it). */
  isCurrent(sealed: string): boolean;
}

export const SECRETS_KEY_BYTES = 32;
const FORMAT = 'v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const ALGORITHM = 'aes-256-gcm';
const KEY_ID_LABEL = 'aether-secrets-key-id/v1\0';

export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(KEY_ID_LABEL).update(key).digest('hex').slice(0, 16);
}

/** What every value sealed under `keyId` starts with (lets SQL find values still under an older key). */
export const sealedPrefixOf = (keyId: string) => `${FORMAT}.${keyId}.`;

export function createSecretBox(keys: { current: Buffer; previous?: Buffer | null }): SecretBox {
  assertKeyLength(keys.current, 'current');
  if (keys.previous) assertKeyLength(keys.previous, 'previous');
  const keyId = keyIdOf(keys.current);
  const byId = new Map<string, Buffer>([[keyId, Buffer.from(keys.current)]]);
  if (keys.previous) byId.set(keyIdOf(keys.previous), Buffer.from(keys.previous));
  const prefix = sealedPrefixOf(keyId);

  return {
    keyId,
    seal(plaintext, context) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv(ALGORITHM, byId.get(keyId)!, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${prefix}${nonce.toString('base64url')}.${body.toString('base64url')}`;
    },
    open(sealed, context) {
      const parts = parseSealed(sealed);
      const key = byId.get(parts.keyId);
      if (!key) {
        const why = 'which is neither the current nor the previous secrets key';
        throw new AppError('internal', `secret sealed under key ${parts.keyId}, ${why}`);
      }
      try {
        const decipher = createDecipheriv(ALGORITHM, key, parts.nonce, { authTagLength: TAG_BYTES });
        decipher.setAAD(Buffer.from(context, 'utf8'));
        decipher.setAuthTag(parts.tag);
        return Buffer.concat([decipher.update(parts.ciphertext), decipher.final()]).toString('utf8');
      } catch {
        // GCM says only "not authentic": tampered, or sealed for another app or variable name.
        throw new AppError('internal', `secret sealed under key ${parts.keyId} failed authentication`);
      }
    },
    isCurrent: (sealed) => sealed.startsWith(prefix),
  };
}

interface SealedParts {
  keyId: string;
  nonce: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

const B64URL = /^[A-Za-z0-9_-]+$/;
const KEY_ID = /^[0-9a-f]{16}$/;

function parseSealed(sealed: string): SealedParts {
  const [format, keyId, nonce, body, ...rest] = sealed.split('.');
  const wellFormed =
    format === FORMAT && rest.length === 0 && KEY_ID.test(keyId ?? '') && B64URL.test(nonce ?? '') && B64URL.test(body ?? '');
  const nonceBytes = wellFormed ? Buffer.from(nonce!, 'base64url') : null;
  const bodyBytes = wellFormed ? Buffer.from(body!, 'base64url') : null;
  if (!nonceBytes || !bodyBytes || nonceBytes.length !== NONCE_BYTES || bodyBytes.length < TAG_BYTES) {
    throw new AppError('internal', 'sealed secret is malformed (not a v1 ciphertext)');
  }
  const split = bodyBytes.length - TAG_BYTES;
  return { keyId: keyId!, nonce: nonceBytes, ciphertext: bodyBytes.subarray(0, split), tag: bodyBytes.subarray(split) };
}

/** How many bytes a sealed value opens to (GCM keeps the length), without opening it. */
export function sealedPlaintextBytes(sealed: string): number {
  return parseSealed(sealed).ciphertext.length;
}

const HOW_TO_MAKE_ONE = '(generate one: openssl rand -base64 32)';
const BASE64 = /^(?:[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_-]+)$/;

/**
 * A key as written in AETHER_SECRETS_KEY or a key file: base64 (or base64url) of 32 bytes.
 * Throws a message that describes the text, never quotes it.
 */
export function decodeSecretsKey(text: string): Buffer {
  const trimmed = text.trim();
  if (!BASE64.test(trimmed)) throw new Error(`must be base64 of ${SECRETS_KEY_BYTES} bytes ${HOW_TO_MAKE_ONE}`);
  const key = Buffer.from(trimmed, trimmed.includes('-') || trimmed.includes('_') ? 'base64url' : 'base64');
  if (key.length !== SECRETS_KEY_BYTES) {
    throw new Error(`must be base64 of ${SECRETS_KEY_BYTES} bytes, not ${key.length} ${HOW_TO_MAKE_ONE}`);
  }
  return key;
}

function assertKeyLength(key: Buffer, which: string): void {
  if (key.length !== SECRETS_KEY_BYTES) {
    throw new Error(`the ${which} secrets key must be ${SECRETS_KEY_BYTES} bytes, not ${key.length} ${HOW_TO_MAKE_ONE}`);
  }
}
