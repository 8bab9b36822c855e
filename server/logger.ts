/**
 * JSON-lines logger on stderr. Field names that look like secrets are redacted before
 * anything is written, so a token passed by mistake never reaches a log.
 */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50 };
const SECRET_KEY_RE = /token|secret|password|authorization|signature_key|credential|cookie/i;

export interface Logger {
  trace(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
  /** Whether a record at this level is written: a hot path skips building fields nobody reads. */
  enabled(level: LogLevel): boolean;
}

/**
 * drizzle's query error repeats the statement's parameters (config values, ciphertexts) after
 * `params:`: keep the statement, drop them, add the driver's reason.
 */
export function safeErrorMessage(err: Error): string {
  if (!err.message.startsWith('Failed query: ')) return err.message;
  const at = err.message.indexOf('\nparams: ');
  const statement = at === -1 ? err.message : err.message.slice(0, at);
  return err.cause instanceof Error ? `${statement}: ${err.cause.message}` : statement;
}

/** The same for an error already made a string (`String(err)` in a field): its tail goes. */
function safeErrorText(text: string): string {
  const at = text.includes('Failed query: ') ? text.indexOf('\nparams: ') : -1;
  return at === -1 ? text : text.slice(0, at);
}

export function redact(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (SECRET_KEY_RE.test(k)) out[k] = '[redacted]';
    else if (v instanceof Error) out[k] = { name: v.name, message: safeErrorMessage(v) };
    else if (typeof v === 'string') out[k] = safeErrorText(v);
    else out[k] = v;
  }
  return out;
}

export function createLogger(level: LogLevel = 'info', bindings: Record<string, unknown> = {}, write = (line: string) => process.stderr.write(line)): Logger {
  const min = LEVELS[level];
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[lvl] < min) return;
    const record = { time: new Date().toISOString(), level: lvl, msg, ...redact({ ...bindings, ...fields }) };
    write(`${JSON.stringify(record)}\n`);
  };
  return {
    trace: (m, f) => emit('trace', m, f),
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (b) => createLogger(level, { ...bindings, ...b }, write),
    enabled: (lvl) => LEVELS[lvl] >= min,
  };
}
