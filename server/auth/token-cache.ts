import type { Notifier } from '../queues/notifier';
import type { Actor } from './roles';

export type TokenCacheResult = 'hit' | 'miss' | 'bypass';

export interface TokenCacheOptions {
  /** How long a resolved token is trusted without the database; changes are published, not waited for. */
  ttlMs?: number;
  maxEntries?: number;
  onLookup?: (result: TokenCacheResult) => void;
}

interface Entry {
  actor: Actor;
  grantId: string;
  cachedUntil: number;
  /** The token's own expiry (ms), which may come before `cachedUntil`. */
  expiresAt: number | null;
}

/**
 * Database tokens resolved in the last few seconds, keyed by the token's sha256 (never the
 * token). Entries are served only while the change feed is live: a process that may have missed
 * a revocation (Redis down or reconnecting) reads the database until it is subscribed again.
 */
export class TokenCache {
  readonly #entries = new Map<string, Entry>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #onLookup: (result: TokenCacheResult) => void;
  // Bumped by every eviction: a lookup that read the database before a change must not store it.
  #generation = 0;
  #live = false;

  constructor(opts: TokenCacheOptions = {}) {
    this.#ttlMs = opts.ttlMs ?? 5_000;
    this.#maxEntries = opts.maxEntries ?? 10_000;
    this.#onLookup = opts.onLookup ?? (() => {});
  }

  get live(): boolean {
    return this.#live;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(hash: string, now: Date): Actor | undefined {
    if (!this.#live) return this.#count('bypass');
    const entry = this.#entries.get(hash);
    if (!entry) return this.#count('miss');
    if (entry.cachedUntil <= Date.now() || (entry.expiresAt !== null && entry.expiresAt <= now.getTime())) {
      this.#entries.delete(hash);
      return this.#count('miss');
    }
    // Reinserted so the Map's order is least recently used first.
    this.#entries.delete(hash);
    this.#entries.set(hash, entry);
    this.#onLookup('hit');
    return entry.actor;
  }

  /** Taken before reading the database; {@link set} drops what was read before a later change. */
  stamp(): number {
    return this.#generation;
  }

  set(hash: string, stamp: number, value: { actor: Actor; grantId: string; expiresAt: Date | null }): void {
    if (!this.#live || stamp !== this.#generation) return;
    if (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    const actor = Object.freeze({ ...value.actor, teams: value.actor.teams && Object.freeze([...value.actor.teams]) });
    this.#entries.set(hash, {
      actor,
      grantId: value.grantId,
      cachedUntil: Date.now() + this.#ttlMs,
      expiresAt: value.expiresAt?.getTime() ?? null,
    });
  }

  /** Drops every token of a grant (a revocation or refresh ends the whole grant). */
  evictGrant(grantId: string): void {
    this.#generation++;
    for (const [hash, entry] of this.#entries) if (entry.grantId === grantId) this.#entries.delete(hash);
  }

  clear(): void {
    this.#generation++;
    this.#entries.clear();
  }

  setLive(live: boolean): void {
    this.#live = live;
    this.clear();
  }

  #count(result: TokenCacheResult): undefined {
    this.#onLookup(result);
    return undefined;
  }
}

const GRANT_TOPIC = 'token-grant:';

interface Binding {
  cache: TokenCache;
  notifier: Notifier;
}

// Keyed by the database handle, so every caller of authenticateToken(db, ...) shares its
// process's cache without threading one through; on globalThis because Next bundles twice.
const globalForTokens = globalThis as unknown as { __aetherTokenCaches?: WeakMap<object, Binding> };
const bindings = (globalForTokens.__aetherTokenCaches ??= new WeakMap());

/**
 * Puts a token cache in front of `db`'s api_tokens, evicted by changes that any process
 * publishes on `notifier`. Returns the function that detaches it.
 */
export function attachTokenCache(db: object, notifier: Notifier, opts: TokenCacheOptions = {}): () => void {
  const cache = new TokenCache(opts);
  const unwatch = notifier.watch(GRANT_TOPIC, {
    onTopic: (topic) => cache.evictGrant(topic.slice(GRANT_TOPIC.length)),
    onLive: (live) => cache.setLive(live),
  });
  bindings.set(db, { cache, notifier });
  return () => {
    if (bindings.get(db)?.cache === cache) bindings.delete(db);
    unwatch();
  };
}

/** The cache in front of `db`; none for a transaction or a handle nothing was attached to. */
export function tokenCacheOf(db: object): TokenCache | undefined {
  return bindings.get(db)?.cache;
}

// A revocation must not hang on a Redis outage, during which the other processes' subscriptions
// are down too and their caches bypassed.
const PUBLISH_TIMEOUT_MS = 1_000;

/**
 * Tells every process that the tokens of `grantId` changed (revoked, refreshed, re-scoped): call
 * it after the change commits. This process forgets them at once; the others on the message.
 */
export async function publishTokenChange(db: object, grantId: string): Promise<void> {
  const binding = bindings.get(db);
  if (!binding) return;
  binding.cache.evictGrant(grantId);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, PUBLISH_TIMEOUT_MS)));
  await Promise.race([binding.notifier.publish(`${GRANT_TOPIC}${grantId}`), timeout]).finally(() =>
    clearTimeout(timer),
  );
}
