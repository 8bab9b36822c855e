import { describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger';

/** drizzle's query error: the statement, then its parameters (a config value, here). */
function failedQuery(): Error {
  return new Error('Failed query: update "config" set "value" = $1 where "id" = $2\nparams: hunter2-secret,42', {
    cause: new Error('read ECONNRESET'),
  });
}

describe('the logger', () => {
  const lines: string[] = [];
  const log = createLogger('info', {}, (line) => lines.push(line) > 0);

  it('keeps a failed query\'s statement and reason but not its parameters, as an error or as its string', () => {
    log.warn('could not write', { err: failedQuery(), error: String(failedQuery()), token: 'abc' });
    const record = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    expect(record.err).toEqual({
      name: 'Error',
      message: 'Failed query: update "config" set "value" = $1 where "id" = $2: read ECONNRESET',
    });
    expect(record.error).toBe('Error: Failed query: update "config" set "value" = $1 where "id" = $2');
    expect(record.token).toBe('[redacted]');
    expect(lines.at(-1)).not.toContain('hunter2');
  });

  it('leaves other strings whole', () => {
    log.info('note', { message: 'params: are fine here\nparams: too' });
    expect((JSON.parse(lines.at(-1)!) as { message: string }).message).toBe('params: are fine here\nparams: too');
  });
});
