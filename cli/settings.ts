import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CliError, EXIT } from './errors';

/** `config.toml`: defaults a developer sets once. Flags and env vars win over it. */
export interface CliSettings {
  api_base?: string;
  default_app?: string;
  default_namespace?: string;
}

export interface SettingsEnv {
  AETHER_CONFIG_FILE?: string;
  XDG_CONFIG_HOME?: string;
  HOME?: string;
  AETHER_DEFAULT_NAMESPACE?: string;
}

const KNOWN = new Set(['api_base', 'default_app', 'default_namespace']);

export function settingsPath(env: SettingsEnv): string {
  if (env.AETHER_CONFIG_FILE) return env.AETHER_CONFIG_FILE;
  const configHome = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(configHome, 'aether', 'config.toml');
}

/**
 * Reads config.toml (absent is fine). A file that does not parse, or holds a value of the wrong
 * type, is a config error (exit 10) naming the file and line.
 */
export async function readSettings(env: SettingsEnv, warn: (msg: string) => void): Promise<CliSettings> {
  const file = settingsPath(env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return applyEnv({}, env);
    throw new CliError(EXIT.config, `cannot read ${file}: ${(err as Error).message}`);
  }
  const { parse, TomlError } = await import('smol-toml');
  let doc: Record<string, unknown>;
  try {
    doc = parse(text);
  } catch (err) {
    if (err instanceof TomlError) throw new CliError(EXIT.config, `${file}:${err.line}:${err.column}: ${err.message.split('\n')[0]}`);
    throw err;
  }
  const settings: CliSettings = {};
  for (const [key, value] of Object.entries(doc)) {
    if (!KNOWN.has(key)) {
      warn(`${file}: unknown setting "${key}" ignored`);
      continue;
    }
    if (typeof value !== 'string' || value.length === 0) {
      throw new CliError(EXIT.config, `${file}:${lineOf(text, key)}: "${key}" must be a non-empty string`);
    }
    settings[key as keyof CliSettings] = value;
  }
  return applyEnv(settings, env);
}

function applyEnv(settings: CliSettings, env: SettingsEnv): CliSettings {
  return env.AETHER_DEFAULT_NAMESPACE ? { ...settings, default_namespace: env.AETHER_DEFAULT_NAMESPACE } : settings;
}

function lineOf(text: string, key: string): number {
  const i = text.split('\n').findIndex((l) => l.trimStart().startsWith(key));
  return i >= 0 ? i + 1 : 1;
}
