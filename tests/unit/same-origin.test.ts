import { describe, expect, it } from 'vitest';
import { isSameOriginRequest } from '../../server/auth/same-origin';

const PUBLIC = 'https://aether.example.com';
const check = (h: Record<string, string>) => isSameOriginRequest(new Headers(h), PUBLIC);

describe('isSameOriginRequest', () => {
  it('accepts the public origin, or the host the request was sent to', () => {
    expect(check({ origin: 'https://aether.example.com', host: 'internal:3000' })).toBe(true);
    expect(check({ origin: 'http://127.0.0.1:3000', host: '127.0.0.1:3000' })).toBe(true);
    expect(check({ origin: 'http://localhost', host: 'localhost:80' })).toBe(true);
    expect(check({ origin: 'https://aether.example.com', 'sec-fetch-site': 'same-origin' })).toBe(true);
  });

  it('refuses a missing, opaque or foreign origin', () => {
    expect(check({ host: 'aether.example.com' })).toBe(false);
    expect(check({ origin: 'null', host: 'aether.example.com' })).toBe(false);
    expect(check({ origin: 'not a url', host: 'aether.example.com' })).toBe(false);
    expect(check({ origin: 'https://evil.example', host: 'aether.example.com' })).toBe(false);
    // A tenant app on a sibling host is same-site, not same-origin.
    expect(check({ origin: 'http://web.localhost:8080', host: 'localhost:3000' })).toBe(false);
    expect(check({ origin: 'http://aether.example.com', host: 'aether.example.com:8443' })).toBe(false);
  });

  it('refuses what the browser itself says came from elsewhere', () => {
    for (const site of ['cross-site', 'same-site', 'none']) {
      expect(check({ origin: 'https://aether.example.com', 'sec-fetch-site': site })).toBe(false);
    }
  });
});
