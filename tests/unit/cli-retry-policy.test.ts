import { describe, expect, it } from 'vitest';
import { CliError, EXIT } from '../../cli/errors';
import { retryHistory, retryWhileUnavailable, waitedFor } from '../../cli/retry';
import {
  DEFAULT_RETRY_MAX_SECS,
  formatSecs,
  isIdempotent,
  nextRetryDelay,
  parseRetryAfter,
  readRetryMaxSecs,
} from '../../cli/retry-policy';

const low = () => 0;
const high = () => 1;

describe('nextRetryDelay', () => {
  it('backs off exponentially with equal jitter, capped at 15 s a wait', () => {
    const at = (attempt: number, random: () => number) =>
      nextRetryDelay({ attempt, elapsedMs: 0, budgetMs: 600_000 }, random);
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => at(a, low))).toEqual([500, 1_000, 2_000, 4_000, 7_500, 7_500, 7_500]);
    expect(at(1, high)).toBeCloseTo(1_000);
    expect(at(3, high)).toBeCloseTo(4_000);
    expect(at(9, high)).toBeCloseTo(15_000);
  });

  it('honours Retry-After: never sooner, at most 10 % (and 1 s) later, capped at 30 s', () => {
    const s = { attempt: 1, elapsedMs: 0, budgetMs: 600_000 };
    expect(nextRetryDelay({ ...s, retryAfterMs: 2_000 }, low)).toBe(2_000);
    expect(nextRetryDelay({ ...s, retryAfterMs: 2_000 }, high)).toBeCloseTo(2_200);
    expect(nextRetryDelay({ ...s, retryAfterMs: 0 }, high)).toBe(0);
    expect(nextRetryDelay({ ...s, retryAfterMs: 3_600_000 }, low)).toBe(30_000);
    expect(nextRetryDelay({ ...s, retryAfterMs: 3_600_000 }, high)).toBeCloseTo(31_000);
  });

  it('cuts the last wait to what is left of the budget, then gives up', () => {
    expect(nextRetryDelay({ attempt: 4, elapsedMs: 58_500, budgetMs: 60_000 }, low)).toBe(1_500);
    expect(nextRetryDelay({ attempt: 1, elapsedMs: 59_900, budgetMs: 60_000, retryAfterMs: 5_000 }, low)).toBeCloseTo(
      100,
    );
    expect(nextRetryDelay({ attempt: 9, elapsedMs: 60_000, budgetMs: 60_000 }, low)).toBeNull();
    expect(nextRetryDelay({ attempt: 1, elapsedMs: 0, budgetMs: 0 }, low)).toBeNull();
  });
});

describe('retry settings and headers', () => {
  it('AETHER_RETRY_MAX_SECS: 60 by default, 0 turns retries off, garbage is a config error', () => {
    expect(readRetryMaxSecs(undefined)).toBe(DEFAULT_RETRY_MAX_SECS);
    expect(readRetryMaxSecs('')).toBe(60);
    expect(readRetryMaxSecs('0')).toBe(0);
    expect(readRetryMaxSecs('2.5')).toBe(2.5);
    for (const bad of ['-1', 'soon', 'Infinity']) {
      expect(() => readRetryMaxSecs(bad)).toThrow(
        expect.objectContaining({ exitCode: EXIT.config, message: expect.stringContaining('AETHER_RETRY_MAX_SECS') }),
      );
    }
  });

  it('Retry-After in seconds or as an HTTP date; nonsense is ignored', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:07 GMT', now)).toBe(7_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('-3', now)).toBeUndefined();
    expect(parseRetryAfter('later', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it('says waits in whole seconds, short ones in tenths', () => {
    expect(formatSecs(2_000)).toBe('2s');
    expect(formatSecs(1_600)).toBe('2s');
    expect(formatSecs(400)).toBe('0.4s');
    expect(formatSecs(65_000)).toBe('1m 5s');
  });
});

describe('which calls are retried', () => {
  it('every query, and only the mutations that are idempotent by design', () => {
    expect(isIdempotent('query', 'apps.list')).toBe(true);
    expect(isIdempotent('query', 'deployments.wait')).toBe(true);
    for (const path of [
      'deployments.create',
      'config.deploy',
      'artifacts.presign',
      'artifacts.complete',
      'artifacts.multipartComplete',
      'apps.scale',
      'apps.stop',
      'apps.start',
    ]) {
      expect(isIdempotent('mutation', path), path).toBe(true);
    }
    for (const path of [
      'config.change',
      'apps.create',
      'apps.update',
      'apps.delete',
      'apps.restart',
      'deployments.rollback',
      'keys.add',
      'teams.create',
      'auth.refresh',
      'auth.cliPoll',
    ]) {
      expect(isIdempotent('mutation', path), path).toBe(false);
    }
    expect(isIdempotent('subscription', 'apps.list')).toBe(false);
  });
});

describe('retryWhileUnavailable', () => {
  const down = () => Object.assign(new Error('the database is unavailable; retry shortly'), { down: true });
  const classify = (err: unknown) =>
    (err as { down?: boolean }).down
      ? { what: `control plane unavailable (${(err as Error).message})`, retryAfterMs: 30 }
      : null;

  it('says one line per wait and returns once the call succeeds', async () => {
    const lines: string[] = [];
    let calls = 0;
    const result = await retryWhileUnavailable(
      async () => {
        if (++calls < 3) throw down();
        return 'ok';
      },
      { settings: { maxWaitMs: 5_000, say: (l) => lines.push(l) }, classify },
    );
    expect(result).toBe('ok');
    expect(lines).toEqual([
      'control plane unavailable (the database is unavailable; retry shortly): retrying in 0.0s (attempt 2)',
      'control plane unavailable (the database is unavailable; retry shortly): retrying in 0.0s (attempt 3)',
    ]);
  });

  it('rethrows what it cannot wait out at once, and the last error with its history once the budget is spent', async () => {
    const other = new CliError(EXIT.runtime, 'conflict');
    await expect(
      retryWhileUnavailable(() => Promise.reject(other), { settings: { maxWaitMs: 5_000, say: () => {} }, classify }),
    ).rejects.toBe(other);
    expect(retryHistory(other)).toBeUndefined();

    const started = performance.now();
    const err = await retryWhileUnavailable(() => Promise.reject(down()), {
      settings: { maxWaitMs: 200, say: () => {} },
      classify,
    }).catch((e: unknown) => e);
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(retryHistory(err)?.attempts).toBeGreaterThanOrEqual(4);
    expect(waitedFor(err)).toMatch(/^; still unavailable after 0\.\ds \(\d+ attempts\)$/);
  });

  it('a budget of 0 makes one attempt; an abort ends a wait at once', async () => {
    let calls = 0;
    const none = await retryWhileUnavailable(() => (calls++, Promise.reject(down())), {
      settings: { maxWaitMs: 0, say: () => {} },
      classify,
    }).catch((e: unknown) => e);
    expect(calls).toBe(1);
    expect(waitedFor(none)).toBe('');

    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    const started = performance.now();
    const slow = (err: unknown) => (classify(err) ? { what: 'x', retryAfterMs: 10_000 } : null);
    await expect(
      retryWhileUnavailable(() => Promise.reject(down()), {
        settings: { maxWaitMs: 60_000, say: () => {} },
        classify: slow,
        signal: abort.signal,
      }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
