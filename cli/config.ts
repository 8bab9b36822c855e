import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CliError, EXIT } from './errors';
import { retrySettings, type RetrySettings } from './retry';
import { readSettings, type CliSettings, type SettingsEnv } from './settings';

export const DEFAULT_API_BASE = 'http://127.0.0.1:3000';

/** What `aether login` keeps between runs. The file is 0600: it holds a bearer token. */
export interface Session {
  token: string;
  apiBase: string;
  user: string;
  role: string;
  savedAt: string;
  /** Expiry of a device-login token (refreshed before it); null for tokens given with --token. */
  expiresAt?: string | null;
}

export interface CliEnv extends SettingsEnv {
  AETHER_API_BASE?: string;
  AETHER_TOKEN?: string;
  AETHER_DEFAULT_APP?: string;
  XDG_STATE_HOME?: string;
  XDG_CACHE_HOME?: string;
  HOME?: string;
  CI?: string;
  AETHER_NO_BROWSER?: string;
  AETHER_SIGNING_KEY?: string;
  AETHER_RETRY_MAX_SECS?: string;
}

/** The session is a credential: state, not cache, which users and tools wipe freely. */
export function sessionPath(env: CliEnv): string {
  const stateHome = env.XDG_STATE_HOME || path.join(env.HOME || os.homedir(), '.local', 'state');
  return path.join(stateHome, 'aether', 'session.json');
}

/** Where the session used to be kept; {@link readSession} moves it from there. */
export function legacySessionPath(env: CliEnv): string {
  const cacheHome = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.join(cacheHome, 'aether', 'session.json');
}

export async function readSession(env: CliEnv, warn: (msg: string) => void): Promise<Session | null> {
  const file = sessionPath(env);
  await migrateLegacySession(env, file);
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  const mode = (await stat(file)).mode & 0o777;
  if (mode & 0o077) warn(`session file permissions too open: ${mode.toString(8).padStart(4, '0')} (${file}); run: chmod 600 ${file}`);
  try {
    const parsed = JSON.parse(raw) as Partial<Session>;
    if (typeof parsed.token !== 'string') throw new Error('no token');
    return parsed as Session;
  } catch {
    throw new CliError(EXIT.config, `session file ${file} is not valid`, 'run `aether login` again');
  }
}

/** Writes the session atomically with mode 0600 in a 0700 directory. */
export async function writeSession(env: CliEnv, session: Session): Promise<string> {
  const file = sessionPath(env);
  await writePrivateFile(file, `${JSON.stringify(session, null, 2)}\n`);
  await rm(legacySessionPath(env), { force: true });
  return file;
}

async function writePrivateFile(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await chmod(path.dirname(file), 0o700);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

/**
 * Moves a session file from the cache dir to `file` (0600, bytes unchanged) and removes the old
 * one. When both exist the new one wins and the old credential is removed all the same.
 */
async function migrateLegacySession(env: CliEnv, file: string): Promise<void> {
  const legacy = legacySessionPath(env);
  if (legacy === file) return;
  let raw: string;
  try {
    raw = await readFile(legacy, 'utf8');
  } catch {
    return;
  }
  const exists = await stat(file).then(() => true, () => false);
  if (!exists) await writePrivateFile(file, raw);
  await rm(legacy, { force: true });
}

export interface Connection {
  apiBase: string;
  token: string | null;
  /** How long calls wait out an unavailable control plane; absent (a connection built by hand): never. */
  retry?: RetrySettings;
}

/**
 * Where to talk and with what token. The API base: AETHER_API_BASE, then config.toml's
 * api_base, then where the session logged in, then the default. The token: AETHER_TOKEN (CI
 * sets it; no login needed), then the session.
 */
export async function resolveConnection(env: CliEnv, warn: (msg: string) => void, known?: CliSettings): Promise<Connection> {
  const settings = known ?? (await readSettings(env, warn));
  let session = env.AETHER_TOKEN ? null : await readSession(env, warn);
  // Imported lazily: only sessions from a device login expire and need refreshing.
  if (session?.expiresAt) session = await (await import('./session-refresh')).maybeRefresh(session, env, { warn });
  const apiBase = (env.AETHER_API_BASE || settings.api_base || session?.apiBase || DEFAULT_API_BASE).replace(/\/+$/, '');
  try {
    new URL(apiBase);
  } catch {
    throw new CliError(EXIT.config, `AETHER_API_BASE is not a URL: ${apiBase}`);
  }
  return { apiBase, token: env.AETHER_TOKEN || session?.token || null, retry: retrySettings(env, warn) };
}

export function requireToken(conn: Connection): string {
  if (!conn.token) throw new CliError(EXIT.config, 'not logged in', 'run `aether login` or set AETHER_TOKEN');
  return conn.token;
}
