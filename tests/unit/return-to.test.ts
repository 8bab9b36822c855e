import { describe, expect, it } from 'vitest';
import { DEFAULT_RETURN_PATH, safeReturnPath } from '../../server/auth/return-to';

describe('safeReturnPath', () => {
  it.each([
    ['/console/apps/web?tab=keys', '/console/apps/web?tab=keys'],
    ['/login/cli?code=ABCD-EFGH', '/login/cli?code=ABCD-EFGH'],
    ['/', '/'],
    // Encoded slashes stay encoded: a path on this site, never a host.
    ['/%2F%2Fevil.example', '/%2F%2Fevil.example'],
    // Non-ASCII comes back percent-encoded, fit for a Location header.
    ['/é?q=ü', '/%C3%A9?q=%C3%BC'],
  ])('keeps the same-site path %j as %j', (input, expected) => {
    expect(safeReturnPath(input)).toBe(expected);
  });

  it.each([
    '//evil.example',
    '/\\evil.example',
    '\\\\evil.example',
    '/\t/evil.example',
    '/\n/evil.example',
    '\n',
    '/console\r\nSet-Cookie: x=1',
    '/\u0000',
    '/\u007f',
    'https://evil.example',
    'http:/evil.example',
    'javascript:alert(1)',
    'console',
    ' /console',
    '/./..//evil.example',
    '/a/../..//evil.example',
    '',
    `/${'a'.repeat(2048)}`,
  ])('sends the hostile or malformed %j to the default page', (input) => {
    expect(safeReturnPath(input)).toBe(DEFAULT_RETURN_PATH);
  });

  it('falls back for anything that is not a string (a missing field, an uploaded file)', () => {
    expect(safeReturnPath(null)).toBe(DEFAULT_RETURN_PATH);
    expect(safeReturnPath(new File(['/x'], 'x'))).toBe(DEFAULT_RETURN_PATH);
    expect(safeReturnPath('//evil', '/login/cli')).toBe('/login/cli');
  });
});
