import { z } from 'zod';
import { ZAppName } from './apps';

/**
 * Signing keys: inputs and outputs of the `keys` procedures. Pure: zod only, so the CLI and the
 * portal can import it. Whether a well-formed key is a usable curve point is checked by the
 * service, which owns the crypto.
 */

/** A raw 32-byte Ed25519 public key as lowercase hex (the seed's `public_key_hex`). */
export const PUBLIC_KEY_HEX_RE = /^[0-9a-f]{64}$/;
/** A raw 64-byte Ed25519 signature as lowercase hex. */
export const SIGNATURE_HEX_RE = /^[0-9a-f]{128}$/;

export const ZPublicKeyHex = z.string().regex(PUBLIC_KEY_HEX_RE, 'public_key_hex must be 64 lowercase hex characters (a raw Ed25519 public key)');

export const ZAddPublicKeyInput = z.object({ app_name: ZAppName, public_key_hex: ZPublicKeyHex });
export type TAddPublicKeyInput = z.infer<typeof ZAddPublicKeyInput>;

export const ZPublicKeyRef = z.object({ app_name: ZAppName, key_id: z.uuid() });
export type TPublicKeyRef = z.infer<typeof ZPublicKeyRef>;

export const ZPublicKey = z.object({
  key_id: z.uuid(),
  app_id: z.uuid(),
  app_name: z.string(),
  public_key_hex: z.string(),
  /** `SHA256:<base64>` of the raw key, the form `ssh-keygen -l` prints. */
  fingerprint: z.string(),
  active: z.boolean(),
  created_at: z.iso.datetime(),
  deactivated_at: z.iso.datetime().nullable(),
});
export type TPublicKey = z.infer<typeof ZPublicKey>;
