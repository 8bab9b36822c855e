import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AppError, isAppError } from '../../server/errors';
import { MAX_EXPIRES_IN_SECS } from '../../server/storage/rules';
import {
  DEFAULT_CLOCK_SKEW_SECS,
  signClaims,
  signStorageUrl,
  validateStorageKey,
  verifyClaims,
  verifyStorageUrl,
  type SignedClaims,
} from '../../server/storage/url-signing';

const secret = randomBytes(32);
const base = 'http://cp.test';
const now = 1_800_000_000;
const sha = 'a'.repeat(64);
const claims: SignedClaims = { method: 'PUT', key: 'artifacts/web/abc/app.tar.gz', expiresAt: now + 60, sha256: sha };

function errorOf(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (isAppError(err)) return err;
    throw err;
  }
  throw new Error('expected an AppError');
}

/** Rewrites one part of a signed URL, the way a client tampering with it would. */
function tamper(url: string, edit: (u: URL) => void): string {
  const u = new URL(url);
  edit(u);
  return u.toString();
}

describe('url signing', () => {
  it('round-trips a PUT and a GET url', () => {
    const put = signStorageUrl(base, secret, claims);
    expect(put).toMatch(/^http:\/\/cp\.test\/storage\/artifacts\/web\/abc\/app\.tar\.gz\?method=PUT&expires=\d+&sha256=a{64}&signature=[0-9a-f]{64}$/);
    expect(verifyStorageUrl(secret, { method: 'PUT', url: put }, { now })).toEqual(claims);

    const get = signStorageUrl(`${base}/`, secret, { method: 'GET', key: 'a/b', expiresAt: now + 1 });
    expect(verifyStorageUrl(secret, { method: 'GET', url: get }, { now })).toEqual({
      method: 'GET',
      key: 'a/b',
      expiresAt: now + 1,
      sha256: null,
    });
  });

  it('honours a base path in front of /storage/', () => {
    const url = signStorageUrl(`${base}/cp`, secret, claims);
    expect(new URL(url).pathname).toBe('/cp/storage/artifacts/web/abc/app.tar.gz');
    expect(verifyStorageUrl(secret, { method: 'PUT', url }, { now, pathPrefix: '/cp/storage/' }).key).toBe(claims.key);
  });

  const tampers: Array<[string, (u: URL) => void]> = [
    ['key', (u) => (u.pathname = u.pathname.replace('abc', 'abd'))],
    ['method param', (u) => u.searchParams.set('method', 'GET')],
    ['expires', (u) => u.searchParams.set('expires', String(now + 3600))],
    ['sha256', (u) => u.searchParams.set('sha256', 'b'.repeat(64))],
    ['sha256 removed', (u) => u.searchParams.delete('sha256')],
    ['signature', (u) => u.searchParams.set('signature', 'f'.repeat(64))],
    ['short signature', (u) => u.searchParams.set('signature', 'abcd')],
    ['missing signature', (u) => u.searchParams.delete('signature')],
  ];
  it.each(tampers)('rejects a tampered %s as forbidden', (_name, edit) => {
    const url = tamper(signStorageUrl(base, secret, claims), edit);
    const method = new URL(url).searchParams.get('method') ?? 'PUT';
    const err = errorOf(() => verifyStorageUrl(secret, { method, url }, { now }));
    expect(err.code).toBe('forbidden');
    expect(err.message).toBe('signature does not match');
  });

  it('rejects a request whose method differs from the signed one', () => {
    const url = signStorageUrl(base, secret, claims);
    expect(errorOf(() => verifyStorageUrl(secret, { method: 'GET', url }, { now })).code).toBe('forbidden');
  });

  it('rejects a url signed with another secret', () => {
    const url = signStorageUrl(base, randomBytes(32), claims);
    expect(errorOf(() => verifyStorageUrl(secret, { method: 'PUT', url }, { now })).code).toBe('forbidden');
  });

  it('rejects an expired url, from the expiry second on', () => {
    const url = signStorageUrl(base, secret, claims);
    expect(() => verifyStorageUrl(secret, { method: 'PUT', url }, { now: claims.expiresAt - 1 })).not.toThrow();
    const err = errorOf(() => verifyStorageUrl(secret, { method: 'PUT', url }, { now: claims.expiresAt }));
    expect(err.code).toBe('forbidden');
    expect(err.message).toBe('URL expired');
  });

  it('allows the stated clock skew past expires, and not a second more', () => {
    const url = signStorageUrl(base, secret, claims);
    const check = (at: number) => () => verifyStorageUrl(secret, { method: 'PUT', url }, { now: at, skewSecs: DEFAULT_CLOCK_SKEW_SECS });
    expect(check(claims.expiresAt + DEFAULT_CLOCK_SKEW_SECS - 1)).not.toThrow();
    expect(errorOf(check(claims.expiresAt + DEFAULT_CLOCK_SKEW_SECS)).message).toBe('URL expired');
  });

  it('refuses a url expiring further ahead than any lifetime it is signed for, plus the skew', () => {
    const far = { ...claims, expiresAt: now + MAX_EXPIRES_IN_SECS + DEFAULT_CLOCK_SKEW_SECS };
    const check = (c: SignedClaims) => () => verifyClaims(secret, c, signClaims(secret, c), now, DEFAULT_CLOCK_SKEW_SECS);
    expect(check(far)).not.toThrow();
    const err = errorOf(check({ ...far, expiresAt: far.expiresAt + 1 }));
    expect({ code: err.code, message: err.message }).toEqual({ code: 'forbidden', message: "URL expires too far ahead: the signer's clock is off" });
  });

  it('verifies bare claims with a timing-safe compare', () => {
    const sig = signClaims(secret, claims);
    expect(() => verifyClaims(secret, claims, sig, now)).not.toThrow();
    expect(errorOf(() => verifyClaims(secret, { ...claims, key: 'x' }, sig, now)).code).toBe('forbidden');
    expect(errorOf(() => verifyClaims(secret, claims, sig.toUpperCase(), now)).code).toBe('forbidden');
  });
});

describe('storage key validation', () => {
  it.each(['a', 'artifacts/web/abc/app.tar.gz', 'A-Z_0.9/.hidden/x..y', 'k'.repeat(512)])('accepts %s', (key) => {
    expect(validateStorageKey(key)).toBe(key);
  });

  it.each([
    '../x',
    'a/../b',
    '/abs',
    'a//b',
    'a/./b',
    'a/',
    '.',
    '',
    'a b',
    'a\\b',
    'a\nb',
    'a%2fb',
    'caf\u00e9',
    'a?b',
    'k'.repeat(513),
  ])('rejects %j', (key) => {
    expect(errorOf(() => validateStorageKey(key)).code).toBe('bad_request');
  });

  it('refuses to sign an invalid key or sha256', () => {
    expect(errorOf(() => signStorageUrl(base, secret, { ...claims, key: '../etc/passwd' })).code).toBe('bad_request');
    expect(errorOf(() => signStorageUrl(base, secret, { ...claims, sha256: 'A'.repeat(64) })).code).toBe('bad_request');
  });

  it('rejects encoded separators and traversal in a url path', () => {
    const sig = signStorageUrl(base, secret, { ...claims, key: 'a/b' });
    const encodedSlash = sig.replace('/storage/a/b', '/storage/a%2Fb');
    expect(errorOf(() => verifyStorageUrl(secret, { method: 'PUT', url: encodedSlash }, { now })).code).toBe('bad_request');
    const encodedDots = sig.replace('/storage/a/b', '/storage/%2e%2e/b');
    expect(errorOf(() => verifyStorageUrl(secret, { method: 'PUT', url: encodedDots }, { now })).code).toBe('bad_request');
    const elsewhere = sig.replace('/storage/', '/other/');
    expect(errorOf(() => verifyStorageUrl(secret, { method: 'PUT', url: elsewhere }, { now })).code).toBe('bad_request');
  });
});

describe('multipart part urls', () => {
  const part: SignedClaims = { method: 'PUT', key: 'artifacts/web/abc/app.tar.gz', expiresAt: now + 60, uploadId: 'f'.repeat(32), partNumber: 7 };

  it('round-trips uploadId and partNumber', () => {
    const url = signStorageUrl(base, secret, part);
    expect(new URL(url).searchParams.get('uploadId')).toBe(part.uploadId);
    expect(new URL(url).searchParams.get('partNumber')).toBe('7');
    expect(verifyStorageUrl(secret, { method: 'PUT', url }, { now })).toEqual({ ...part, sha256: null });
  });

  it.each<[string, (u: URL) => void]>([
    ['partNumber', (u) => u.searchParams.set('partNumber', '8')],
    ['uploadId', (u) => u.searchParams.set('uploadId', 'e'.repeat(32))],
    ['partNumber removed', (u) => u.searchParams.delete('partNumber')],
    ['both removed', (u) => (u.searchParams.delete('partNumber'), u.searchParams.delete('uploadId'))],
    ['malformed partNumber', (u) => u.searchParams.set('partNumber', '07')],
  ])('rejects a tampered %s as forbidden', (_name, edit) => {
    const url = tamper(signStorageUrl(base, secret, part), edit);
    expect(errorOf(() => verifyStorageUrl(secret, { method: 'PUT', url }, { now })).code).toBe('forbidden');
  });

  it('never verifies a whole-object url with part params added', () => {
    const url = tamper(signStorageUrl(base, secret, claims), (u) => {
      u.searchParams.set('uploadId', 'f'.repeat(32));
      u.searchParams.set('partNumber', '1');
    });
    expect(errorOf(() => verifyStorageUrl(secret, { method: 'PUT', url }, { now })).code).toBe('forbidden');
  });

  it('refuses to sign a part url that is not a plain PUT or has a bad part', () => {
    expect(errorOf(() => signStorageUrl(base, secret, { ...part, method: 'GET' })).code).toBe('bad_request');
    expect(errorOf(() => signStorageUrl(base, secret, { ...part, sha256: sha })).code).toBe('bad_request');
    expect(errorOf(() => signStorageUrl(base, secret, { ...part, partNumber: 10_001 })).code).toBe('bad_request');
    expect(errorOf(() => signStorageUrl(base, secret, { ...part, partNumber: 0 })).code).toBe('bad_request');
    expect(errorOf(() => signStorageUrl(base, secret, { ...part, uploadId: '../x' })).code).toBe('bad_request');
    expect(errorOf(() => signStorageUrl(base, secret, { ...claims, uploadId: 'f'.repeat(32) })).code).toBe('bad_request');
  });
});

describe('size-bound urls', () => {
  const bound: SignedClaims = { ...claims, sizeBytes: 1234 };

  it('round-trips the bound size', () => {
    const url = signStorageUrl(base, secret, bound);
    expect(new URL(url).searchParams.get('size')).toBe('1234');
    expect(verifyStorageUrl(secret, { method: 'PUT', url }, { now })).toEqual(bound);
  });

  it('refuses a url whose size was changed, added or removed: the signature covers it', () => {
    const url = signStorageUrl(base, secret, bound);
    const unbound = signStorageUrl(base, secret, claims);
    for (const forged of [
      tamper(url, (u) => u.searchParams.set('size', '999999')),
      tamper(url, (u) => u.searchParams.delete('size')),
      tamper(unbound, (u) => u.searchParams.set('size', '1234')),
      tamper(url, (u) => u.searchParams.set('size', '01234')),
    ]) {
      const err = errorOf(() => verifyStorageUrl(secret, { method: 'PUT', url: forged }, { now }));
      expect({ code: err.code, message: err.message }).toEqual({ code: 'forbidden', message: 'signature does not match' });
    }
  });

  it('refuses to bind a size to a GET or a negative size', () => {
    for (const c of [{ ...bound, method: 'GET' as const, sha256: null }, { ...bound, sizeBytes: -1 }]) {
      const err = errorOf(() => signStorageUrl(base, secret, c));
      expect({ code: err.code, message: err.message }).toEqual({ code: 'bad_request', message: 'a bound size is a non-negative integer, on a PUT' });
    }
  });
});
