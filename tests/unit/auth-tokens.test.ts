import { describe, expect, it } from 'vitest';
import { bearerToken, hashToken, parseStaticTokens } from '../../server/auth/tokens';
import { roleAllows } from '../../server/auth/roles';

describe('static tokens (AETHER_API_TOKENS)', () => {
  it('parses token:role[:name[:team1+team2]] entries and keeps only hashes', () => {
    const tokens = parseStaticTokens('t_admin_123:admin:alice, t_reader_123:reader ,t_dep_1234:deployer:ci:payments+billing', 'single-admin-1');
    expect(tokens).toEqual([
      { hash: hashToken('t_admin_123'), role: 'admin', name: 'alice', teams: null },
      { hash: hashToken('t_reader_123'), role: 'reader', name: 'reader-2', teams: null },
      { hash: hashToken('t_dep_1234'), role: 'deployer', name: 'ci', teams: ['payments', 'billing'] },
      { hash: hashToken('single-admin-1'), role: 'admin', name: 'admin', teams: null },
    ]);
    expect(JSON.stringify(tokens)).not.toContain('t_admin_123');
  });

  it('refuses teams on admin tokens, malformed team names and extra fields, without echoing the secret', () => {
    for (const bad of ['secretvalue1:admin:root:payments', 'secretvalue1:deployer:ci:Payments', 'secretvalue1:deployer:ci:a++b', 'secretvalue1:reader:ci:a:b']) {
      expect(() => parseStaticTokens(bad), bad).toThrow(/entry 1/);
      try {
        parseStaticTokens(bad);
      } catch (err) {
        expect((err as Error).message).not.toContain('secretvalue1');
      }
    }
  });

  it('fails loudly on a malformed entry without echoing the secret', () => {
    for (const bad of ['secretvalue1:owner:x', 'secretvalue1', 'short:admin', ':admin:x']) {
      let message = '';
      try {
        parseStaticTokens(bad);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, bad).toMatch(/entry 1 is not token:role/);
      expect(message).not.toContain('secretvalue1');
    }
  });

  it('reads only well-formed bearer headers', () => {
    expect(bearerToken('Bearer abc.def')).toBe('abc.def');
    expect(bearerToken('bearer   abc')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeNull();
    expect(bearerToken('Bearer a b')).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });

  it('orders roles reader < deployer < admin', () => {
    expect(roleAllows('admin', 'deployer')).toBe(true);
    expect(roleAllows('deployer', 'deployer')).toBe(true);
    expect(roleAllows('deployer', 'admin')).toBe(false);
    expect(roleAllows('reader', 'deployer')).toBe(false);
  });
});
