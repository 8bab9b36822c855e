import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { appNameFromPackageName, APP_NAME_RE } from '../server/contract/app-name';
import { CliError, EXIT } from './errors';
import { readSettings, type CliSettings, type SettingsEnv } from './settings';

export interface Project {
  root: string;
  packageName: string | null;
}

/** The Node project in `root`; anything else is a usage error (exit 2), as in the seed. */
export async function readProject(root: string): Promise<Project> {
  let raw: string;
  try {
    raw = await readFile(path.join(root, 'package.json'), 'utf8');
  } catch {
    throw new CliError(EXIT.usage, `not a Node.js project: no package.json in ${root}`);
  }
  try {
    const pkg = JSON.parse(raw) as { name?: unknown };
    return { root, packageName: typeof pkg.name === 'string' ? pkg.name : null };
  } catch {
    throw new CliError(EXIT.usage, `package.json in ${root} is not valid JSON`);
  }
}

/**
 * The app to act on: --app, then AETHER_DEFAULT_APP, then the package name made into a DNS
 * label, then config.toml's default_app.
 */
export function resolveAppName(project: Project | null, flag: string | undefined, defaults: { envApp?: string; configApp?: string } = {}): string {
  const explicit = flag ?? defaults.envApp;
  if (explicit) {
    if (!APP_NAME_RE.test(explicit)) throw new CliError(EXIT.usage, `invalid app name "${explicit}": use lowercase letters, digits and "-" (max 63)`);
    return explicit;
  }
  const derived = project?.packageName ? appNameFromPackageName(project.packageName) : null;
  if (derived) return derived;
  if (defaults.configApp && APP_NAME_RE.test(defaults.configApp)) return defaults.configApp;
  throw new CliError(EXIT.usage, 'no app name: not in package.json, --app or config', 'pass --app <name>');
}

/**
 * The app a command acts on, from --app, AETHER_DEFAULT_APP, the project in `cwd` (if there is
 * one) or config.toml's default_app: what `rollback` and `config` resolve.
 */
export async function resolveTargetApp(
  flag: string | undefined,
  cwd: string,
  env: SettingsEnv & { AETHER_DEFAULT_APP?: string },
  warn: (msg: string) => void,
): Promise<{ app: string; settings: CliSettings }> {
  const settings = await readSettings(env, warn);
  const project = flag ? null : await readProject(cwd).catch(() => null);
  return { app: resolveAppName(project, flag, { envApp: env.AETHER_DEFAULT_APP, configApp: settings.default_app }), settings };
}
