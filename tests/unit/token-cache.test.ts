import { describe, expect, it } from 'vitest';
import type { Actor } from '../../server/auth/roles';
import { TokenCache, type TokenCacheResult } from '../../server/auth/token-cache';

const actor: Actor = { name: 'ci', role: 'deployer', tokenId: 't1', teams: ['a'] };
const now = () => new Date();

function liveCache(opts: { ttlMs?: number; maxEntries?: number } = {}) {
  const seen: TokenCacheResult[] = [];
  const cache = new TokenCache({ ...opts, onLookup: (r) => seen.push(r) });
  cache.setLive(true);
  return { cache, seen };
}

describe('TokenCache', () => {
  it('serves a stored actor until its TTL, counting hits and misses', async () => {
    const { cache, seen } = liveCache({ ttlMs: 50 });
    expect(cache.get('h1', now())).toBeUndefined();
    cache.set('h1', cache.stamp(), { actor, grantId: 'g1', expiresAt: null });
    expect(cache.get('h1', now())).toEqual(actor);
    await new Promise((r) => setTimeout(r, 60));
    expect(cache.get('h1', now())).toBeUndefined();
    expect(seen).toEqual(['miss', 'hit', 'miss']);
  });

  it('never serves a token past its own expiry, even within the TTL', () => {
    const { cache } = liveCache();
    const expiresAt = new Date(Date.now() + 1_000);
    cache.set('h1', cache.stamp(), { actor, grantId: 'g1', expiresAt });
    expect(cache.get('h1', now())).toEqual(actor);
    expect(cache.get('h1', new Date(expiresAt.getTime()))).toBeUndefined();
  });

  it('bypasses and stores nothing while the change feed is down, and starts empty when it is back', () => {
    const { cache, seen } = liveCache();
    cache.set('h1', cache.stamp(), { actor, grantId: 'g1', expiresAt: null });
    cache.setLive(false);
    expect(cache.get('h1', now())).toBeUndefined();
    cache.set('h2', cache.stamp(), { actor, grantId: 'g2', expiresAt: null });
    cache.setLive(true);
    expect(cache.size).toBe(0);
    expect(seen).toEqual(['bypass']);
  });

  it('evicts a whole grant, and drops a lookup that read the database before the eviction', () => {
    const { cache } = liveCache();
    cache.set('old', cache.stamp(), { actor, grantId: 'g1', expiresAt: null });
    cache.set('other', cache.stamp(), { actor, grantId: 'g2', expiresAt: null });
    const before = cache.stamp();
    cache.evictGrant('g1');
    cache.set('child', before, { actor, grantId: 'g1', expiresAt: null });
    expect(cache.get('old', now())).toBeUndefined();
    expect(cache.get('child', now())).toBeUndefined();
    expect(cache.get('other', now())).toEqual(actor);
  });

  it('keeps at most maxEntries, dropping the least recently used', () => {
    const { cache } = liveCache({ maxEntries: 2 });
    cache.set('a', cache.stamp(), { actor, grantId: 'ga', expiresAt: null });
    cache.set('b', cache.stamp(), { actor, grantId: 'gb', expiresAt: null });
    cache.get('a', now());
    cache.set('c', cache.stamp(), { actor, grantId: 'gc', expiresAt: null });
    expect(cache.size).toBe(2);
    expect(cache.get('b', now())).toBeUndefined();
    expect(cache.get('a', now())).toEqual(actor);
    expect(cache.get('c', now())).toEqual(actor);
  });

  it('hands out a frozen copy, so a caller cannot widen what the next request sees', () => {
    const { cache } = liveCache();
    const teams = ['a'];
    cache.set('h1', cache.stamp(), { actor: { ...actor, teams }, grantId: 'g1', expiresAt: null });
    teams.push('b');
    const got = cache.get('h1', now())!;
    expect(got.teams).toEqual(['a']);
    expect(Object.isFrozen(got) && Object.isFrozen(got.teams)).toBe(true);
  });
});
