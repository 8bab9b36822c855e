import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { createTRPCClient, httpLink } from '@trpc/client';
import type { AppRouter } from '../../server/trpc/root';
import { apiError, call, createApi } from '../client';
import { DEFAULT_API_BASE, writeSession, type CliEnv } from '../config';
import { CliError, EXIT, isNetworkError } from '../errors';
import type { Output } from '../output';
import { retrySettings } from '../retry';
import { readSettings } from '../settings';
import type { CliSession } from '../session-refresh';

export interface LoginOptions {
  token?: string;
  /** Browser approval even without a TTY (remote shells, tests). */
  device?: boolean;
  /** The seed's flag: labels the session only when the server reports no name. */
  username?: string;
}

export type LoginEnv = CliEnv & { AETHER_NO_BROWSER?: string; PATH?: string };

/** What the device flow needs from the machine; tests replace it. */
export interface LoginDeps {
  interactive: boolean;
  openBrowser(url: string): boolean;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

const EXIT_INTERRUPTED = 130;

/** Token from --token or AETHER_TOKEN; else browser approval on a TTY or with --device. */
export async function loginCommand(opts: LoginOptions, env: LoginEnv, out: Output, deps: LoginDeps = machineDeps(env)): Promise<number> {
  const settings = await readSettings(env, (m) => out.warn(m));
  const apiBase = (env.AETHER_API_BASE || settings.api_base || DEFAULT_API_BASE).replace(/\/+$/, '');
  if (opts.token && opts.device) throw new CliError(EXIT.usage, '--token and --device exclude each other');
  const token = opts.token || (opts.device ? undefined : env.AETHER_TOKEN);
  if (token) return loginWithToken(token, apiBase, opts, env, out);
  // Waiting for a human in CI would hang the job until it times out: say what to pass instead.
  if (!opts.device && !deps.interactive) {
    throw new CliError(EXIT.usage, 'no token given, and no terminal to log in from', 'pass --token <token> or set AETHER_TOKEN (or --device to approve in a browser)');
  }
  return deviceLogin(apiBase, opts, env, out, deps);
}

async function loginWithToken(token: string, apiBase: string, opts: LoginOptions, env: CliEnv, out: Output): Promise<number> {
  const who = await call('checking token', () => createApi({ apiBase, token, retry: retrySettings(env, (m) => out.warn(m)) }).session.whoami.query());
  const user = who.name || opts.username || 'unknown';
  const session: CliSession = { token, apiBase, user, role: who.role, savedAt: new Date().toISOString(), expiresAt: null };
  const file = await writeSession(env, session);
  out.info(`logged in to ${apiBase} as ${user} (${who.role}); session saved to ${file}`);
  return EXIT.ok;
}

/** The public procedures need no token; `createApi` insists on one. */
function publicApi(apiBase: string) {
  return createTRPCClient<AppRouter>({ links: [httpLink({ url: `${apiBase}/api/trpc`, headers: () => ({ 'user-agent': 'aether-cli' }) })] });
}

async function deviceLogin(apiBase: string, opts: LoginOptions, env: LoginEnv, out: Output, deps: LoginDeps): Promise<number> {
  const api = publicApi(apiBase);
  const started = await call('starting login', () => api.auth.cliStart.mutate({}));
  out.info(`To log in, open this URL in a browser, sign in, and approve the code:\n\n  ${started.verification_url}\n\n  code: ${started.user_code}\n`);
  if (deps.interactive && !env.AETHER_NO_BROWSER && deps.openBrowser(started.verification_url)) out.info('(opened your browser)');
  out.info(`waiting for approval (the code expires in ${Math.round(started.expires_in_secs / 60)} min; Ctrl-C cancels)`);

  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    const done = await pollUntilSettled(api, started.device_code, started.interval_secs, started.expires_in_secs, out, deps, abort.signal);
    if (done.status === 'denied') throw new CliError(EXIT.config, 'the login was denied in the portal');
    if (done.status !== 'approved' || !done.token || !done.role) {
      throw new CliError(EXIT.config, 'the login code expired before it was approved', 'run `aether login` again');
    }
    const user = done.user || opts.username || 'unknown';
    const session: CliSession = { token: done.token, apiBase, user, role: done.role, savedAt: new Date().toISOString(), expiresAt: done.expires_at ?? null };
    const file = await writeSession(env, session);
    out.info(`logged in to ${apiBase} as ${user} (${done.role}); session saved to ${file}`);
    return EXIT.ok;
  } catch (err) {
    if (!abort.signal.aborted) throw err;
    out.info('login cancelled');
    return EXIT_INTERRUPTED;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

type Poll = Awaited<ReturnType<ReturnType<typeof publicApi>['auth']['cliPoll']['mutate']>>;

async function pollUntilSettled(
  api: ReturnType<typeof publicApi>,
  deviceCode: string,
  intervalSecs: number,
  expiresInSecs: number,
  out: Output,
  deps: LoginDeps,
  signal: AbortSignal,
): Promise<Poll> {
  // The server's interval, within sane bounds in case it sends something odd.
  let intervalMs = Math.min(Math.max(intervalSecs, 1), 30) * 1000;
  const deadline = Date.now() + expiresInSecs * 1000 + intervalMs;
  let warnedOffline = false;
  while (Date.now() < deadline) {
    await deps.sleep(intervalMs, signal);
    let res: Poll;
    try {
      res = await api.auth.cliPoll.mutate({ device_code: deviceCode }, { signal });
    } catch (err) {
      // A blip on the network must not throw away a login the user may be approving right now.
      if (!signal.aborted && isNetworkError(err)) {
        if (!warnedOffline) out.warn('cannot reach the control plane; still trying');
        warnedOffline = true;
        continue;
      }
      throw signal.aborted ? err : apiError(err, 'waiting for approval');
    }
    if (res.slow_down) intervalMs += 1000;
    if (res.status !== 'pending') return res;
  }
  return { status: 'expired' };
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function onPath(cmd: string, pathVar: string | undefined): string | null {
  for (const dir of (pathVar ?? '').split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, cmd);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** Opening a browser is a courtesy: never required, never fatal, never through a shell. */
function openBrowserWith(env: LoginEnv, url: string): boolean {
  if (!/^https?:\/\//.test(url)) return false;
  const bin = onPath(process.platform === 'darwin' ? 'open' : 'xdg-open', env.PATH);
  if (!bin) return false;
  try {
    const child = spawn(bin, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
    return true;
  } catch {
    return false;
  }
}

function machineDeps(env: LoginEnv): LoginDeps {
  return {
    // @clack/prompts-style rule: no stdin TTY, or CI set, means nobody is there to act.
    interactive: Boolean(process.stdin.isTTY) && !env.CI,
    openBrowser: (url) => openBrowserWith(env, url),
    sleep: abortableSleep,
  };
}
