import { randomBytes } from 'node:crypto';
import { link, open, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Env } from '../env';
import type { Logger } from '../logger';
import { createSecretBox, decodeSecretsKey, SECRETS_KEY_BYTES, type SecretBox } from './secret-box';

export const SECRETS_KEY_FILE_NAME = 'secrets.key';

export type SecretsKeySource = 'env' | 'file' | 'data-dir';

export interface SecretsKeys {
  current: Buffer;
  previous: Buffer | null;
  /** Where the current key came from: AETHER_SECRETS_KEY, AETHER_SECRETS_KEY_FILE, or the data dir. */
  source: SecretsKeySource;
}

/**
 * The secrets keys of this process: AETHER_SECRETS_KEY, else the file AETHER_SECRETS_KEY_FILE
 * names (compose and Kubernetes secrets), else `<data dir>/secrets.key`, generated on first use.
 * AETHER_SECRETS_KEY_PREVIOUS, when set, is the key being rotated away from.
 */
export async function loadSecretsKeys(env: Env): Promise<SecretsKeys> {
  const { AETHER_SECRETS_KEY: key, AETHER_SECRETS_KEY_FILE: keyFile, AETHER_SECRETS_KEY_PREVIOUS: previousKey } = env;
  const previous = previousKey ? decodeNamed(previousKey, 'AETHER_SECRETS_KEY_PREVIOUS') : null;
  if (key) return { current: decodeNamed(key, 'AETHER_SECRETS_KEY'), previous, source: 'env' };
  if (keyFile) {
    const text = await readFile(keyFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new Error(`AETHER_SECRETS_KEY_FILE: cannot read ${keyFile} (${err.code ?? err.message})`);
    });
    return { current: decodeNamed(text, `AETHER_SECRETS_KEY_FILE (${keyFile})`), previous, source: 'file' };
  }
  return { current: await dataDirKey(env.AETHER_DATA_DIR), previous, source: 'data-dir' };
}

let warnedKeyBesideData = false;

/** The process's SecretBox, from {@link loadSecretsKeys}. */
export async function createSecretBoxFromEnv(env: Env, log: Logger): Promise<SecretBox> {
  const keys = await loadSecretsKeys(env);
  if (keys.source === 'data-dir' && env.NODE_ENV === 'production' && !warnedKeyBesideData) {
    warnedKeyBesideData = true;
    const msg = 'the secrets key is kept in the data dir, beside the data it protects: set AETHER_SECRETS_KEY or AETHER_SECRETS_KEY_FILE';
    log.warn(msg, { file: path.join(env.AETHER_DATA_DIR, SECRETS_KEY_FILE_NAME) });
  }
  return createSecretBox(keys);
}

function decodeNamed(text: string, name: string): Buffer {
  try {
    return decodeSecretsKey(text);
  } catch (err) {
    throw new Error(`${name} ${(err as Error).message}`);
  }
}

/**
 * `<dataDir>/secrets.key`, made once. The key is written to a private temp file and then
 * hard-linked into place: link() fails if the name exists (like O_EXCL), so processes racing
 * on a fresh data dir all end up reading the one key that won, never a half-written file.
 */
async function dataDirKey(dataDir: string): Promise<Buffer> {
  const file = path.join(dataDir, SECRETS_KEY_FILE_NAME);
  const existing = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw new Error(`cannot read the secrets key ${file} (${err.code ?? err.message})`);
  });
  if (existing === null) {
    const tmp = `${file}.${randomBytes(8).toString('hex')}.tmp`;
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(`${randomBytes(SECRETS_KEY_BYTES).toString('base64')}\n`);
      // On disk before it has its name: a crash must not leave an empty key behind.
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(tmp, file).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    } finally {
      await unlink(tmp);
    }
  }
  return decodeNamed(existing ?? (await readFile(file, 'utf8')), file);
}
