import { describe, expect, it } from 'vitest';
import { SECRET_REDACTED, secretMasker } from '../../server/services/config/release-runtime';

const at = { set_at: '2026-01-01T00:00:00.000Z', set_by: 'x' };

describe('secretMasker: the app output a failed rollout quotes', () => {
  const entries = {
    DB_PASSWORD: { secret: true, sealed: 'v1.x', ...at },
    TOKEN: { secret: true, sealed: 'v1.y', ...at },
    MULTI: { secret: true, sealed: 'v1.z', ...at },
    EMPTY: { secret: true, sealed: 'v1.w', ...at },
    GREETING: { secret: false, value: 'hello', ...at },
  };
  const env = { DB_PASSWORD: 'hunter2', TOKEN: 'tok-hunter2-xyz', MULTI: 'line1\n"q"', EMPTY: '', GREETING: 'hello' };
  const mask = secretMasker({ entries }, env);

  it('masks every secret value, the longest first, and leaves plain values alone', () => {
    expect(mask('pw=hunter2 token=tok-hunter2-xyz hello')).toBe(`pw=${SECRET_REDACTED} token=${SECRET_REDACTED} hello`);
  });

  it('masks a value printed across lines and its JSON-escaped form', () => {
    expect(mask('a line1\n"q" b')).toBe(`a ${SECRET_REDACTED} b`);
    expect(mask(JSON.stringify({ multi: env.MULTI }))).toBe(`{"multi":"${SECRET_REDACTED}"}`);
  });

  it('an empty secret masks nothing', () => {
    expect(mask('nothing here')).toBe('nothing here');
  });
});
