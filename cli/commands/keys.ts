import { call, createApi } from '../client';
import { resolveConnection, type CliEnv } from '../config';
import { CliError, EXIT } from '../errors';
import { table, type Output } from '../output';

interface KeyOpts {
  app: string;
  format: 'text' | 'json';
}

export async function keysAddCommand(opts: KeyOpts & { publicKey: string }, env: CliEnv, out: Output): Promise<number> {
  if (!/^[0-9a-f]{64}$/.test(opts.publicKey)) throw new CliError(EXIT.usage, '--public-key must be 64 lowercase hex characters (an Ed25519 public key)');
  const api = createApi(await resolveConnection(env, (m) => out.warn(m)));
  const key = await call('adding key', () => api.keys.add.mutate({ app_name: opts.app, public_key_hex: opts.publicKey }));
  if (opts.format === 'json') out.json(key);
  else out.result(`key ${key.key_id} (${key.fingerprint}) is active for ${key.app_name}`);
  return EXIT.ok;
}

export async function keysListCommand(opts: KeyOpts, env: CliEnv, out: Output): Promise<number> {
  const api = createApi(await resolveConnection(env, (m) => out.warn(m)));
  const keys = await call('listing keys', () => api.keys.list.query({ app_name: opts.app }));
  if (opts.format === 'json') {
    out.json(keys);
    return EXIT.ok;
  }
  if (keys.length === 0) {
    out.info(`no signing keys for ${opts.app}; \`aether keys generate\` makes a pair`);
    return EXIT.ok;
  }
  out.result(table([['KEY ID', 'FINGERPRINT', 'ACTIVE', 'ADDED'], ...keys.map((k) => [k.key_id, k.fingerprint, k.active ? 'yes' : 'no', k.created_at.slice(0, 10)])]));
  return EXIT.ok;
}

export async function keysDeactivateCommand(opts: KeyOpts & { keyId: string }, env: CliEnv, out: Output): Promise<number> {
  const api = createApi(await resolveConnection(env, (m) => out.warn(m)));
  const key = await call('deactivating key', () => api.keys.deactivate.mutate({ app_name: opts.app, key_id: opts.keyId }));
  if (opts.format === 'json') out.json(key);
  else out.result(`key ${key.key_id} deactivated: artifacts signed with it no longer verify`);
  return EXIT.ok;
}
