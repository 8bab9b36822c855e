import { resolveConnection, requireToken, type CliEnv } from '../config';
import { CliError, EXIT, exitCodeForServerCode, isNetworkError, toCliError, type ExitCode } from '../errors';
import type { Output } from '../output';
import { readProject, resolveAppName } from '../project';
import { retryWhileUnavailable, waitedFor, type Unavailable } from '../retry';
import { parseRetryAfter } from '../retry-policy';
import { readSettings } from '../settings';
import type { TLogEntry } from '../../server/contract/outputs';

export interface LogsOptions {
  app?: string;
  follow: boolean;
  tail: number;
  since?: string;
  container?: string;
  deployment?: string;
  /** Only this instance's lines ('0', '1'... locally, a pod name on Kubernetes). */
  instance?: string;
  /** Prefix each line with its time (text format). */
  timestamps?: boolean;
  format: 'text' | 'json';
  cwd: string;
}

const MAX_BACKOFF_MS = 10_000;
// After a dropped stream, ask again from the last line's time with a tail this large.
const RESUME_TAIL = 10_000;

/** Where a followed stream left off, so a reconnect neither skips nor repeats lines. */
interface Cursor {
  time: string | null;
  /** Lines already printed with exactly `time`. */
  seenAtTime: Set<string>;
}

function logsUrl(apiBase: string, app: string, opts: LogsOptions, tail: number, since: string | undefined): URL {
  const url = new URL(`${apiBase}/apps/${encodeURIComponent(app)}/logs`);
  url.searchParams.set('format', 'ndjson');
  url.searchParams.set('tail', String(tail));
  if (opts.follow) url.searchParams.set('follow', 'true');
  if (since) url.searchParams.set('since', since);
  if (opts.container) url.searchParams.set('container', opts.container);
  if (opts.deployment) url.searchParams.set('deployment', opts.deployment);
  if (opts.instance) url.searchParams.set('instance', opts.instance);
  return url;
}

/**
 * Streams an app's output (GET /apps/{app}/logs as NDJSON) to stdout: the lines (with
 * --timestamps, each after its time), or with --format json one `{"time","source","line"}`
 * object per line. With --follow it reconnects with backoff when the stream drops, resuming
 * from the last line's time, until Ctrl-C.
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
  const cursor: Cursor = { time: null, seenAtTime: new Set() };
  const print = printer(opts, cursor);
  let attempt = 0;
  let url = logsUrl(conn.apiBase, app, opts, opts.tail, opts.since);
  try {
    for (;;) {
      try {
        const before = cursor.time;
        const once = () => streamOnce(url, token, print, abort.signal);
        // --follow reconnects below, forever; a one-shot read waits out a 503 within the budget.
        if (opts.follow || !conn.retry) await once();
        else await retryWhileUnavailable(once, { settings: conn.retry, signal: abort.signal, classify: unavailable });
        // The server ends a follow when its deployment stopped: a named one is over, while the
        // app's next one is picked up by reconnecting, slower each time nothing new came.
        if (opts.deployment) return EXIT.ok;
        attempt = cursor.time !== before ? 0 : attempt + 1;
      } catch (err) {
        if (abort.signal.aborted) return EXIT.ok;
        if (err instanceof CliError && err.exitCode !== EXIT.network) throw err;
        if (!opts.follow) throw isNetworkError(err) ? toCliError(err) : withWait(err);
        attempt++;
        out.warn(`log stream lost (${(err as Error).message}); reconnecting`, { attempt });
      }
      if (!opts.follow || abort.signal.aborted) return EXIT.ok;
      // The history was printed already: resume from the last line seen (or only new lines).
      url = cursor.time ? logsUrl(conn.apiBase, app, opts, RESUME_TAIL, cursor.time) : logsUrl(conn.apiBase, app, opts, 0, undefined);
      const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** attempt) * (0.5 + Math.random() / 2);
      await new Promise((r) => setTimeout(r, delay));
    }
  } finally {
    process.off('SIGINT', stop);
  }
}

/**
 * Writes one entry to stdout, skipping what a resumed stream repeats. Text lines say which
 * instance wrote them (`[1] ...`) once the app shows more than one, unless --instance chose one.
 */
function printer(opts: LogsOptions, cursor: Cursor): (e: TLogEntry) => void {
  const instances = new Set<string>();
  const instancePrefix = (e: TLogEntry) => {
    if (opts.instance || e.instance === undefined) return '';
    instances.add(e.instance);
    return instances.size > 1 ? `[${e.instance}] ` : '';
  };
  return (e) => {
    if (e.time && cursor.time) {
      if (e.time < cursor.time) return;
      if (e.time === cursor.time && cursor.seenAtTime.has(e.line)) return;
    }
    if (e.time) {
      if (e.time !== cursor.time) cursor.seenAtTime.clear();
      cursor.time = e.time;
      cursor.seenAtTime.add(e.line);
    }
    if (opts.format === 'json') return void process.stdout.write(`${JSON.stringify(e)}\n`);
    process.stdout.write(`${opts.timestamps ? `${e.time ?? '-'} ` : ''}${instancePrefix(e)}${e.line}\n`);
  };
}

/** An HTTP refusal of the logs request, with the Retry-After it came with. */
class LogsRefused extends CliError {
  constructor(
    exit: ExitCode,
    readonly reason: string,
    code: string | undefined,
    readonly retryAfterMs: number | undefined,
  ) {
    super(exit, `logs: ${reason}${code ? ` (${code})` : ''}`, undefined, code);
  }
}

const unavailable = (err: unknown): Unavailable | null =>
  err instanceof LogsRefused && err.code === 'service_unavailable' ? { what: `control plane unavailable (${err.reason})`, retryAfterMs: err.retryAfterMs } : null;

function withWait(err: unknown): unknown {
  const waited = waitedFor(err);
  return err instanceof CliError && waited ? new CliError(err.exitCode, `${err.message}${waited}`, err.hint, err.code) : err;
}

async function streamOnce(url: URL, token: string, print: (e: TLogEntry) => void, signal: AbortSignal): Promise<void> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/x-ndjson' }, signal });
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
    const exit = res.status >= 500 && res.status !== 501 ? EXIT.network : exitCodeForServerCode(body.code);
    throw new LogsRefused(exit, body.message ?? `HTTP ${res.status}`, body.code, parseRetryAfter(res.headers.get('retry-after')));
  }
  if (!res.body) return;
  let partial = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    partial += decoder.decode(chunk, { stream: true });
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line) print(JSON.parse(line) as TLogEntry);
  }
  if (partial.trim()) print(JSON.parse(partial) as TLogEntry);
}
