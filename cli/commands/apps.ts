import { call, createApi } from '../client';
import { resolveConnection, type CliEnv } from '../config';
import { CliError, EXIT } from '../errors';
import type { Output } from '../output';
import { APP_NAME_RE } from '../../server/contract/app-name';
import { listCommand } from './list';

function assertName(name: string) {
  if (!APP_NAME_RE.test(name)) throw new CliError(EXIT.usage, `invalid app name "${name}": use lowercase letters, digits and "-" (max 63)`);
}

export async function appsCreateCommand(name: string, opts: { format: 'text' | 'json' }, env: CliEnv, out: Output): Promise<number> {
  assertName(name);
  const api = createApi(await resolveConnection(env, (m) => out.warn(m)));
  const app = await call('creating app', () => api.apps.create.mutate({ name }));
  if (opts.format === 'json') out.json(app);
  else out.result(`created app ${app.name} (owner ${app.owner})`);
  return EXIT.ok;
}

export const appsListCommand = listCommand;

/** Deleting is irreversible: without a TTY it needs --yes; on a TTY it asks. */
export async function appsDeleteCommand(name: string, opts: { yes?: boolean; format: 'text' | 'json' }, env: CliEnv, out: Output): Promise<number> {
  assertName(name);
  if (!opts.yes) {
    if (!process.stdin.isTTY || env.CI) throw new CliError(EXIT.usage, `refusing to delete "${name}" without --yes`, 'pass --yes to confirm');
    const { confirm, isCancel } = await import('@clack/prompts');
    const answer = await confirm({ message: `Delete app ${name}, stop it, and delete all its artifacts and history?`, initialValue: false });
    if (isCancel(answer) || !answer) throw new CliError(EXIT.usage, 'cancelled');
  }
  const api = createApi(await resolveConnection(env, (m) => out.warn(m)));
  const res = await call('deleting app', () => api.apps.delete.mutate({ app_name: name }));
  if (opts.format === 'json') out.json({ app_name: name, ...res });
  else out.result(`deleted app ${name} and ${res.artifacts} artifact(s)`);
  return EXIT.ok;
}
