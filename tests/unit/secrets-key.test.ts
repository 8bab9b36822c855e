import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadEnv } from '../../server/env';
import { createLogger } from '../../server/logger';
import { keyIdOf } from '../../server/secrets/secret-box';
import { createSecretBoxFromEnv, loadSecretsKeys } from '../../server/secrets/secrets-key';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'aether-secrets-key-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const envWith = (vars: Record<string, string> = {}) => loadEnv({ AETHER_DATA_DIR: dir, ...vars });

describe('secrets key resolution', () => {
  it('takes AETHER_SECRETS_KEY first, and AETHER_SECRETS_KEY_PREVIOUS as the previous key', async () => {
    const [current, previous] = [randomBytes(32), randomBytes(32)];
    const keys = await loadSecretsKeys(envWith({ AETHER_SECRETS_KEY: current.toString('base64'), AETHER_SECRETS_KEY_PREVIOUS: previous.toString('base64') }));
    expect(keys).toEqual({ current, previous, source: 'env' });
    // Nothing written to the data dir when the key comes from elsewhere.
    expect(await readdir(dir)).toEqual([]);
  });

  it('reads AETHER_SECRETS_KEY_FILE (a compose or Kubernetes secret), trailing newline and all', async () => {
    const key = randomBytes(32);
    const file = path.join(dir, 'mounted-key');
    await writeFile(file, `${key.toString('base64')}\n`);
    expect(await loadSecretsKeys(envWith({ AETHER_SECRETS_KEY_FILE: file }))).toEqual({ current: key, previous: null, source: 'file' });
  });

  it('names the file it cannot read, and a file that holds no key, never its content', async () => {
    const missing = path.join(dir, 'nope');
    await expect(loadSecretsKeys(envWith({ AETHER_SECRETS_KEY_FILE: missing }))).rejects.toThrow(`AETHER_SECRETS_KEY_FILE: cannot read ${missing} (ENOENT)`);
    const bad = path.join(dir, 'short');
    const content = randomBytes(16).toString('base64');
    await writeFile(bad, content);
    const err = await loadSecretsKeys(envWith({ AETHER_SECRETS_KEY_FILE: bad })).catch((e: Error) => e);
    expect((err as Error).message).toBe(`AETHER_SECRETS_KEY_FILE (${bad}) must be base64 of 32 bytes, not 16 (generate one: openssl rand -base64 32)`);
    expect((err as Error).message).not.toContain(content);
  });

  it('refuses malformed keys in the environment at parse time, without quoting them', () => {
    const short = randomBytes(16).toString('base64');
    const err = (() => {
      try {
        envWith({ AETHER_SECRETS_KEY: short });
      } catch (e) {
        return e as Error;
      }
      throw new Error('loadEnv accepted a 16-byte key');
    })();
    expect(err.message).toContain('AETHER_SECRETS_KEY: must be base64 of 32 bytes, not 16');
    expect(err.message).not.toContain(short);
    expect(() => envWith({ AETHER_SECRETS_KEY_PREVIOUS: 'not base64!' })).toThrow(/AETHER_SECRETS_KEY_PREVIOUS: must be base64 of 32 bytes/);
    expect(() => envWith({ AETHER_SECRETS_KEY: randomBytes(32).toString('base64'), AETHER_SECRETS_KEY_FILE: '/run/secrets/k' })).toThrow(
      'AETHER_SECRETS_KEY_FILE: set AETHER_SECRETS_KEY or AETHER_SECRETS_KEY_FILE, not both',
    );
    // Compose passes an unset optional variable as an empty string.
    expect(envWith({ AETHER_SECRETS_KEY_PREVIOUS: '' }).AETHER_SECRETS_KEY_PREVIOUS).toBeUndefined();
  });

  it('otherwise creates <data dir>/secrets.key once, 0600, and reuses it', async () => {
    const first = await loadSecretsKeys(envWith());
    expect(first.source).toBe('data-dir');
    const file = path.join(dir, 'secrets.key');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const again = await loadSecretsKeys(envWith());
    expect(again.current).toEqual(first.current);
    expect(await readdir(dir)).toEqual(['secrets.key']);
  });

  it('gives processes racing on a fresh data dir one key', async () => {
    const all = await Promise.all(Array.from({ length: 16 }, () => loadSecretsKeys(envWith())));
    expect(new Set(all.map((k) => keyIdOf(k.current))).size).toBe(1);
    // The losers' temp files are gone.
    expect(await readdir(dir)).toEqual(['secrets.key']);
  });

  it('warns once, in production, that a data-dir key sits beside the data', async () => {
    const lines: string[] = [];
    const log = createLogger('info', {}, (l) => lines.push(l) > 0);
    await createSecretBoxFromEnv(envWith(), log);
    expect(lines).toEqual([]);
    const box = await createSecretBoxFromEnv(envWith({ NODE_ENV: 'production' }), log);
    await createSecretBoxFromEnv(envWith({ NODE_ENV: 'production' }), log);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'warn', msg: expect.stringContaining('set AETHER_SECRETS_KEY or AETHER_SECRETS_KEY_FILE') });
    const key = (await loadSecretsKeys(envWith())).current;
    expect(lines[0]).not.toContain(key.toString('base64'));
    expect(box.keyId).toBe(keyIdOf(key));
  });
});
