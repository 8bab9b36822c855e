/**
 * Everything the CLI says. Logs and progress go to stderr; stdout carries only the command's
 * result (a table, or one JSON object with --format json), so it can be piped.
 */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'auto' | 'text' | 'json';
const RANK: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50 };

export interface Output {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  /** The command's result on stdout. */
  result(text: string): void;
  json(value: unknown): void;
}

export function createOutput(opts: { level: LogLevel; format: LogFormat }, streams = { out: process.stdout, err: process.stderr }): Output {
  const json = opts.format === 'json';
  const log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[level] < RANK[opts.level]) return;
    if (json) {
      streams.err.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
      return;
    }
    const prefix = level === 'info' ? '' : `${level}: `;
    const extra = fields && Object.keys(fields).length ? ` ${Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')}` : '';
    streams.err.write(`${prefix}${msg}${extra}\n`);
  };
  return {
    log,
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    result: (text) => streams.out.write(text.endsWith('\n') ? text : `${text}\n`),
    json: (value) => streams.out.write(`${JSON.stringify(value, null, 2)}\n`),
  };
}

/** Left-aligned columns for human tables. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export interface JsonError {
  code: string;
  message: string;
}

/**
 * The one JSON document a failed command prints: its result with `error` inside when it had
 * one (a deploy that ended `failed`), else `{ error }` alone.
 */
export function jsonFailure(result: unknown, error: JsonError): Record<string, unknown> {
  const isRecord = typeof result === 'object' && result !== null && !Array.isArray(result);
  return isRecord ? { ...(result as Record<string, unknown>), error } : { error };
}

/**
 * Holds a command's `--format json` result until it ends, so stdout carries exactly one
 * document: the result, or the result with the error that came after it.
 */
export function holdJson(out: Output): { out: Output; flush(error?: JsonError): void } {
  let held: { value: unknown } | null = null;
  return {
    out: { ...out, json: (value) => void (held = { value }) },
    flush(error) {
      if (error) out.json(jsonFailure(held?.value, error));
      else if (held) out.json(held.value);
      held = null;
    },
  };
}
