import { resolveConnection, requireToken, type CliEnv } from '../config';
import { CliError, EXIT, exitCodeForServerCode, isNetworkError, toCliError } from '../errors';
import type { Output } from '../output';
import { readProject, resolveAppName } from '../project';
import { readSettings } from '../settings';

export interface LogsOptions {
  app?: string;
  follow: boolean;
  tail: number;
  since?: string;
  container?: string;
  deployment?: string;
  format: 'text' | 'json';
  cwd: string;
}

const MAX_BACKOFF_MS = 10_000;

function logsUrl(apiBase: string, app: string, opts: LogsOptions, tail: number): URL {
  const url = new URL(`${apiBase}/apps/${encodeURIComponent(app)}/logs`);
  url.searchParams.set('tail', String(tail));
  if (opts.follow) url.searchParams.set('follow', 'true');
  if (opts.since) url.searchParams.set('since', opts.since);
  if (opts.container) url.searchParams.set('container', opts.container);
  if (opts.deployment) url.searchParams.set('deployment', opts.deployment);
  return url;
}

/**
 * Streams an app's output (GET /apps/{app}/logs) to stdout: text lines, or NDJSON
 * `{"app","line"}` with --format json. With --follow it reconnects with backoff when the
 * stream drops, asking only for new lines, until Ctrl-C.
 */
export async function logsCommand(opts: LogsOptions, env: CliEnv, out: Output): Promise<number> {
  const settings = await readSettings(env, (m) => out.warn(m));
  const project = await readProject(opts.cwd).catch(() => null);
  const app = resolveAppName(project, opts.app, { envApp: env.AETHER_DEFAULT_APP, configApp: settings.default_app });
  const conn = await resolveConnection(env, (m) => out.warn(m), settings);
  const token = requireToken(conn);
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  let attempt = 0;
  let tail = opts.tail;
  try {
    for (;;) {
      try {
        await streamOnce(logsUrl(conn.apiBase, app, opts, tail), token, app, opts.format, abort.signal);
        attempt = 0;
      } catch (err) {
        if (abort.signal.aborted) return EXIT.ok;
        if (err instanceof CliError && err.exitCode !== EXIT.network) throw err;
        if (!opts.follow) throw isNetworkError(err) ? toCliError(err) : err;
        attempt++;
        out.warn(`log stream lost (${(err as Error).message}); reconnecting`, { attempt });
      }
      if (!opts.follow || abort.signal.aborted) return EXIT.ok;
      // Reconnect for new lines only: the history was printed already.
      tail = 0;
      const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** attempt) * (0.5 + Math.random() / 2);
      await new Promise((r) => setTimeout(r, delay));
    }
  } finally {
    process.off('SIGINT', stop);
  }
}

async function streamOnce(url: URL, token: string, app: string, format: 'text' | 'json', signal: AbortSignal): Promise<void> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal });
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
    const exit = res.status >= 500 && res.status !== 501 ? EXIT.network : exitCodeForServerCode(body.code);
    throw new CliError(exit, `logs: ${body.message ?? `HTTP ${res.status}`}${body.code ? ` (${body.code})` : ''}`, undefined, body.code);
  }
  if (!res.body) return;
  let partial = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (format === 'text') {
      process.stdout.write(chunk);
      continue;
    }
    partial += decoder.decode(chunk, { stream: true });
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) process.stdout.write(`${JSON.stringify({ app, line })}\n`);
  }
  if (format === 'json' && partial) process.stdout.write(`${JSON.stringify({ app, line: partial })}\n`);
}
