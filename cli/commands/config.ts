import { readFile } from 'node:fs/promises';
import { readSecretValue, readStdinText } from '../app-config/secret-input';
import { assertName, parseAssignments, parseDotenv, toVars } from '../app-config/vars';
import { call, createApi, type Api } from '../client';
import { resolveConnection, type CliEnv } from '../config';
import { describeOutcome, followDeployment, releaseFailed, type Deployment } from '../deploy/remote';
import { CliError, EXIT } from '../errors';
import { table, type Output } from '../output';
import { resolveTargetApp } from '../project';

export interface ConfigOptions {
  app?: string;
  format: 'text' | 'json';
  cwd: string;
}

export interface ConfigChangeOptions extends ConfigOptions {
  /** false with --no-deploy: stage the change. */
  deploy: boolean;
  secret?: boolean;
}

type ChangeResult = Awaited<ReturnType<Api['config']['change']['mutate']>>;
type ChangeInput = { set?: Record<string, string>; secrets?: Record<string, string>; unset?: string[] };

async function connect(opts: ConfigOptions, env: CliEnv, out: Output) {
  const { app, settings } = await resolveTargetApp(opts.app, opts.cwd, env, (m) => out.warn(m));
  return { app, api: createApi(await resolveConnection(env, (m) => out.warn(m), settings)) };
}

/** `aether config set KEY=VALUE... [--secret]`; a bare KEY with --secret reads its value from stdin or a prompt. */
export async function configSetCommand(args: string[], opts: ConfigChangeOptions, env: CliEnv, out: Output): Promise<number> {
  const assignments = parseAssignments(args, { secret: Boolean(opts.secret) });
  const target = await connect(opts, env, out);
  const pairs: Array<[string, string]> = [];
  for (const a of assignments) pairs.push([a.name, a.value ?? (await readSecretValue(a.name, env))]);
  const vars = toVars(pairs);
  return change(target, opts.secret ? { secrets: vars } : { set: vars }, opts, out);
}

export async function configUnsetCommand(names: string[], opts: ConfigChangeOptions, env: CliEnv, out: Output): Promise<number> {
  if (names.length === 0) throw new CliError(EXIT.usage, 'nothing to unset: pass KEY...');
  for (const name of names) assertName(name);
  return change(await connect(opts, env, out), { unset: [...new Set(names)] }, opts, out);
}

/** `aether config import <file>`: every variable of a dotenv file (`-` reads stdin) in one change. */
export async function configImportCommand(file: string, opts: ConfigChangeOptions, env: CliEnv, out: Output): Promise<number> {
  const text = file === '-' ? await readStdinText() : await readFile(file, 'utf8');
  const vars = await parseDotenv(text, file === '-' ? 'stdin' : file);
  return change(await connect(opts, env, out), opts.secret ? { secrets: vars } : { set: vars }, opts, out);
}

/** `aether config deploy`: roll out the staged config with the artifact that runs now. */
export async function configDeployCommand(opts: ConfigOptions, env: CliEnv, out: Output): Promise<number> {
  const { app, api } = await connect(opts, env, out);
  const { deployment, created } = await call('deploying config', () => api.config.deploy.mutate({ app_name: app }));
  out.info(`${created ? 'created' : 'joined in-flight'} deployment ${deployment.id}`);
  const final = await followDeployment(api, deployment, out);
  if (opts.format === 'json') out.json({ app_name: app, deployment: deploymentJson(final) });
  else out.result(describeOutcome(final, `deployed the new config of ${app}`));
  if (final.status === 'failed') throw releaseFailed(app, final);
  return EXIT.ok;
}

export async function configListCommand(opts: ConfigOptions, env: CliEnv, out: Output): Promise<number> {
  const { app, api } = await connect(opts, env, out);
  const view = await call('reading config', () => api.config.list.query({ app_name: app }));
  if (opts.format === 'json') {
    out.json(view);
    return EXIT.ok;
  }
  const running = view.running_version === null ? 'nothing runs yet' : `running ${view.running_version}`;
  const staged = view.staged ? `; staged: ${describeChanges(view.staged_changes) || 'no variable changes'}` : '';
  out.info(`${app}: config version ${view.version} (${running})${staged}`);
  const settings = Object.entries(view.settings).filter(([, v]) => v !== null);
  if (settings.length) out.info(`settings: ${settings.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`);
  if (view.entries.length === 0) {
    out.info(`no variables; \`aether config set KEY=VALUE --app ${app}\` adds one`);
    return EXIT.ok;
  }
  const rows = [['NAME', 'VALUE', 'KIND', 'SET AT', 'SET BY']];
  // `display` is the mask for a secret: the server never sends a secret's value.
  for (const e of view.entries) {
    rows.push([e.name, printable(e.display), e.secret ? 'secret' : 'plain', e.set_at.slice(0, 19).replace('T', ' '), e.set_by]);
  }
  out.result(table(rows));
  return EXIT.ok;
}

async function change({ app, api }: { app: string; api: Api }, input: ChangeInput, opts: ConfigChangeOptions, out: Output): Promise<number> {
  const res: ChangeResult = await call('changing config', () =>
    api.config.change.mutate({ app_name: app, ...input, deploy: opts.deploy }),
  );
  const changed = describeChanges(res.changes);
  out.info(changed ? `${app}: ${changed} (config version ${res.config.version})` : `${app}: no change`);
  const final = res.deployment ? await followDeployment(api, res.deployment, out) : null;
  const { version, staged, running_version } = res.config;
  if (opts.format === 'json') {
    out.json({ app_name: app, version, staged, changes: res.changes, deployment: final ? deploymentJson(final) : null });
  } else if (final) out.result(describeOutcome(final, `deployed the new config of ${app}`));
  else if (running_version === null) out.result(`saved config version ${version} of ${app}; nothing runs yet, so its next deploy starts with it`);
  else if (staged) out.result(`staged config version ${version} of ${app}; \`aether config deploy --app ${app}\` rolls it out`);
  if (final?.status === 'failed') throw releaseFailed(app, final);
  return EXIT.ok;
}

/** Names only: `set A, B; unset C`. */
export function describeChanges(changes: { set: string[]; unset: string[]; settings?: string[] }): string {
  const parts = [
    changes.set.length ? `set ${changes.set.join(', ')}` : '',
    changes.unset.length ? `unset ${changes.unset.join(', ')}` : '',
    changes.settings?.length ? `settings ${changes.settings.join(', ')}` : '',
  ];
  return parts.filter(Boolean).join('; ');
}

const deploymentJson = (d: Deployment) => ({ id: d.id, status: d.status, url: d.url, failure_reason: d.failure_reason });

const ESCAPES: Record<string, string> = { '\n': '\\n', '\t': '\\t' };

/** One table cell: control characters escaped, long values cut. */
function printable(value: string): string {
  const escaped = value.replace(/[\x00-\x1f\x7f]/g, (c) => ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return escaped.length > 60 ? `${escaped.slice(0, 59)}…` : escaped;
}
