import { describe, expect, it } from 'vitest';
import { appNameFromPackageName, ZAppName } from '../../server/contract/apps';
import { artifactStorageKey, isDigest } from '../../server/contract/digest';
import { ERROR_TABLE, httpStatusOf } from '../../server/contract/errors';
import { EXIT, exitCodeForServerCode, isNetworkError, toCliError } from '../../cli/errors';

describe('contract', () => {
  it('accepts DNS-label app names only', () => {
    for (const ok of ['a', 'web', 'billing-api', 'x1', 'a'.repeat(63)]) expect(ZAppName.safeParse(ok).success, ok).toBe(true);
    for (const bad of ['', '-a', 'a-', 'A', 'a_b', 'a.b', 'a'.repeat(64), 'ünï']) expect(ZAppName.safeParse(bad).success, bad).toBe(false);
  });

  it('derives app names from package names', () => {
    expect(appNameFromPackageName('@acme/Billing_API')).toBe('billing-api');
    expect(appNameFromPackageName('sample-app')).toBe('sample-app');
    expect(appNameFromPackageName('___')).toBeNull();
  });

  it('accepts lowercase 64-hex digests and builds per-app storage keys', () => {
    expect(isDigest('ab'.repeat(32))).toBe(true);
    expect(isDigest('AB'.repeat(32))).toBe(false);
    expect(isDigest('ab'.repeat(31))).toBe(false);
    expect(artifactStorageKey('web', 'ab'.repeat(32))).toBe(`artifacts/web/${'ab'.repeat(32)}/app.tar.gz`);
  });

  it('gives every error code an HTTP status of the right class', () => {
    expect(httpStatusOf('quota_exceeded')).toBe(403);
    expect(httpStatusOf('idempotency_conflict')).toBe(409);
    for (const [code, { httpStatus }] of Object.entries(ERROR_TABLE)) {
      expect(httpStatus >= 400 && httpStatus < 600, code).toBe(true);
    }
  });
});

describe('CLI exit codes', () => {
  it('maps server codes: credentials -> 10, bad input -> 2, unavailable -> 40, the rest -> 20', () => {
    expect(exitCodeForServerCode('unauthorized')).toBe(EXIT.config);
    expect(exitCodeForServerCode('forbidden')).toBe(EXIT.config);
    expect(exitCodeForServerCode('bad_request')).toBe(EXIT.usage);
    expect(exitCodeForServerCode('service_unavailable')).toBe(EXIT.network);
    expect(exitCodeForServerCode('conflict')).toBe(EXIT.runtime);
    expect(exitCodeForServerCode(undefined)).toBe(EXIT.runtime);
  });

  it('recognises network failures through fetch causes, and I/O errors by errno', () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    expect(isNetworkError(refused)).toBe(true);
    expect(toCliError(refused).exitCode).toBe(EXIT.network);
    const enoent = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT', syscall: 'open' });
    expect(toCliError(enoent).exitCode).toBe(EXIT.io);
    expect(toCliError(new Error('boom')).exitCode).toBe(EXIT.runtime);
  });
});
