import { call, createApi } from '../client';
import { resolveConnection, type CliEnv } from '../config';
import { describeOutcome, followDeployment, releaseFailed } from '../deploy/remote';
import { CliError, EXIT } from '../errors';
import { describeApp } from '../lifecycle/describe';
import type { Output } from '../output';
import { resolveTargetApp } from '../project';
import { APP_NAME_RE } from '../../server/contract/app-name';
import { listCommand } from './list';
import { assertTeamName } from './teams';

function assertName(name: string) {
  if (!APP_NAME_RE.test(name)) throw new CliError(EXIT.usage, `invalid app name "${name}": use lowercase letters, digits and "-" (max 63)`);
}

export async function appsCreateCommand(name: string, opts: { format: 'text' | 'json'; team?: string }, env: CliEnv, out: Output): Promise<number> {
  assertName(name);
  if (opts.team !== undefined) assertTeamName(opts.team);
  const api = createApi(await resolveConnection(env, (m) => out.warn(m)));
  const app = await call('creating app', () => api.apps.create.mutate({ name, ...(opts.team ? { team: opts.team } : {}) }));
  if (opts.format === 'json') out.json(app);
  else out.result(`created app ${app.name} in team ${app.team} (owner ${app.owner})`);
  return EXIT.ok;
}

/** A setting's flag: a value, `false` from its --no- form (back to the platform default), or absent. */
type SettingFlag<T> = T | false | undefined;

export interface AppsUpdateOptions {
  app?: string;
  startCommand?: SettingFlag<string>;
  healthPath?: SettingFlag<string>;
  healthTimeout?: SettingFlag<number>;
  team?: string;
  deploy: boolean;
  format: 'text' | 'json';
  cwd: string;
}

const setting = <T>(flag: SettingFlag<T>): T | null | undefined => (flag === false ? null : flag);

/** `aether apps update`: per-app settings (a new release, deployed unless --no-deploy) and the team. */
export async function appsUpdateCommand(opts: AppsUpdateOptions, env: CliEnv, out: Output): Promise<number> {
  const settings = {
    start_command: setting(opts.startCommand),
    health_path: setting(opts.healthPath),
    health_timeout_secs: setting(opts.healthTimeout),
  };
  const changed = Object.entries(settings).filter(([, v]) => v !== undefined).map(([k]) => k);
  if (changed.length === 0 && opts.team === undefined) {
    const hint = 'pass --start-command, --health-path, --health-timeout (or their --no- forms for the default) or --team';
    throw new CliError(EXIT.usage, 'nothing to update', hint);
  }
  const { app, settings: cliSettings } = await resolveTargetApp(opts.app, opts.cwd, env, (m) => out.warn(m));
  const api = createApi(await resolveConnection(env, (m) => out.warn(m), cliSettings));
  const defined = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
  const team = opts.team ? { team: opts.team } : {};
  const res = await call('updating app', () => api.apps.update.mutate({ app_name: app, ...defined, ...team, deploy: opts.deploy }));
  out.info(`${app}: updated ${[...changed, ...(opts.team ? ['team'] : [])].join(', ')}`);
  const final = res.deployment ? await followDeployment(api, res.deployment, out) : null;
  if (opts.format === 'json') out.json({ app: res.app, deployment: final });
  else if (final) out.result(describeOutcome(final, `deployed ${app} with its new settings`));
  else if (changed.length === 0) out.result(`${app} is now in team ${res.app.team}`);
  else if (opts.deploy) out.result(`saved the settings of ${app}; nothing runs yet, so its next deploy starts with them`);
  else out.result(`staged the settings of ${app}; \`aether config deploy --app ${app}\` rolls them out`);
  if (final?.status === 'failed') throw releaseFailed(app, final);
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

/** `aether apps get`: the app with its stable URL, instances and health, apart from its deployment's status. */
export async function appsGetCommand(opts: { app?: string; format: 'text' | 'json'; cwd: string }, env: CliEnv, out: Output): Promise<number> {
  const { app: name, settings } = await resolveTargetApp(opts.app, opts.cwd, env, (m) => out.warn(m));
  const api = createApi(await resolveConnection(env, (m) => out.warn(m), settings));
  const [app, deployments] = await Promise.all([
    call('reading app', () => api.apps.get.query({ app_name: name })),
    call('reading deployments', () => api.deployments.list.query({ app_name: name, limit: 1 })),
  ]);
  const latest = deployments[0] ?? null;
  if (opts.format === 'json') {
    out.json({ app, latest_deployment: latest });
    return EXIT.ok;
  }
  const deployment: [string, string] = ['deployment', latest ? `${latest.status} ${latest.id} (${latest.digest.slice(0, 12)})` : 'none yet'];
  out.result(`app ${app.name} in team ${app.team} (owner ${app.owner})\n${describeApp(app, [deployment])}`);
  return EXIT.ok;
}
