/**
 * The token cache across two control planes sharing one PostgreSQL database and one Redis
 * prefix, as web replicas do: a revocation on one is refused on the other within a second,
 * a repeated lookup does not read the database, and a Redis blip never leaves a stale entry.
 */
import net from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenCacheOf } from '../../server/auth/token-cache';
import { hashToken } from '../../server/auth/tokens';
import { startTestPlane, type TestPlane } from '../support/harness';
import { pollUntil } from '../support/poll';
import { TEST_REDIS_URL } from '../support/redis';

/** A TCP relay to the real Redis that the test can cut (every connection dropped, new ones refused) and restore. */
async function redisRelay() {
  const target = new URL(TEST_REDIS_URL);
  const sockets = new Set<net.Socket>();
  let cut = false;
  const server = net.createServer((client) => {
    if (cut) return client.destroy();
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}${target.pathname}`,
    cut() {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      cut = false;
    },
    close: () =>
      new Promise<void>(
        (resolve) => ((cut = true), [...sockets].forEach((s) => s.destroy()), server.close(() => resolve())),
      ),
  };
}

describe('token cache across two control planes (PostgreSQL, Redis pub/sub)', () => {
  let a: TestPlane;
  let b: TestPlane;
  let relay: Awaited<ReturnType<typeof redisRelay>>;
  let sql: postgres.Sql;

  beforeAll(async () => {
    a = await startTestPlane('postgres');
    relay = await redisRelay();
    // Plane B shares A's database and queue prefix; only its Redis path goes through the relay.
    b = await startTestPlane('postgres', {
      DATABASE_URL: a.services.env.DATABASE_URL!,
      AETHER_QUEUE_PREFIX: a.services.env.AETHER_QUEUE_PREFIX,
      REDIS_URL: relay.url,
    });
    sql = postgres(a.services.env.DATABASE_URL!, { max: 1, onnotice: () => {} });
    await pollUntil(async () => cacheOf(a).live && cacheOf(b).live, Boolean, 5_000);
  });

  afterAll(async () => {
    await sql?.end({ timeout: 5 });
    await b?.close();
    await a?.close();
    await relay?.close();
  });

  const cacheOf = (plane: TestPlane) => tokenCacheOf(plane.services.db)!;
  const whoami = async (plane: TestPlane, token: string) => {
    const res = await fetch(`${plane.url}/api/trpc/session.whoami`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { error?: { data?: { code?: string } } };
    return { status: res.status, code: body.error?.data?.code ?? null };
  };
  const ok = { status: 200, code: null };
  const refused = { status: 401, code: 'unauthorized' };
  const newToken = () =>
    a.caller('admin').admin.tokens.create({ name: `ci-${Math.random().toString(36).slice(2)}`, role: 'deployer' });
  /** Revokes behind the caches' back: straight in the database, nothing published. */
  const revokeSilently = (token: string) =>
    sql`update api_tokens set revoked_at = now() where token_hash = ${hashToken(token)}`;

  it('both planes are subscribed before the tests start', () => {
    expect([cacheOf(a).live, cacheOf(b).live]).toEqual([true, true]);
  });

  it('a token used on A and B, revoked on A, is refused on B within 1 s', async () => {
    const t = await newToken();
    expect(await whoami(a, t.token)).toEqual(ok);
    expect(await whoami(b, t.token)).toEqual(ok);
    expect(cacheOf(b).get(hashToken(t.token), new Date())).toMatchObject({ tokenId: t.id, role: 'deployer' });

    await a.caller('admin').admin.tokens.revoke({ id: t.id });
    const revokedAt = Date.now();
    const onB = await pollUntil(
      () => whoami(b, t.token),
      (r) => r.status === 401,
      1_000,
    );
    expect(onB).toEqual(refused);
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    expect(await whoami(a, t.token)).toEqual(refused);
  });

  it('a repeated lookup does not read the database: a silent revocation goes unseen for the TTL, then is seen', async () => {
    const t = await newToken();
    expect(await whoami(b, t.token)).toEqual(ok);
    await revokeSilently(t.token);
    // A never cached it: it reads the database and refuses. B answers from its cache.
    expect(await whoami(a, t.token)).toEqual(refused);
    expect(await whoami(b, t.token)).toEqual(ok);
    expect(await whoami(b, t.token)).toEqual(ok);
    // The TTL (5 s) is only the bound for changes nobody published.
    const seen = await pollUntil(
      () => whoami(b, t.token),
      (r) => r.status === 401,
      7_000,
    );
    expect(seen).toEqual(refused);
  });

  it('a refresh on A ends the replaced token on B at once', async () => {
    const t = await a.caller('admin').admin.tokens.create({ name: 'session', role: 'deployer', expires_in_days: 1 });
    expect(await whoami(b, t.token)).toEqual(ok);
    const res = await fetch(`${a.url}/api/trpc/auth.refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.token}` },
      body: '{}',
    });
    expect(res.status).toBe(200);
    const fresh = ((await res.json()) as { result: { data: { token: string } } }).result.data.token;
    expect(
      await pollUntil(
        () => whoami(b, t.token),
        (r) => r.status === 401,
        1_000,
      ),
    ).toEqual(refused);
    expect(await whoami(b, fresh)).toEqual(ok);
  });

  it('while B is cut off from Redis it reads the database, so a revocation it cannot hear is not missed', async () => {
    const t = await newToken();
    expect(await whoami(b, t.token)).toEqual(ok);
    expect(cacheOf(b).size).toBeGreaterThan(0);

    relay.cut();
    expect(
      await pollUntil(
        async () => cacheOf(b).live,
        (live) => !live,
        2_000,
      ),
    ).toBe(false);
    expect(cacheOf(b).size).toBe(0);
    // Published on A while B cannot receive it; B refuses anyway.
    await a.caller('admin').admin.tokens.revoke({ id: t.id });
    expect(await whoami(b, t.token)).toEqual(refused);

    // Cut off, B caches nothing: a silent revocation is seen at once.
    const u = await newToken();
    expect(await whoami(b, u.token)).toEqual(ok);
    await revokeSilently(u.token);
    expect(await whoami(b, u.token)).toEqual(refused);

    // Subscribed again, B caches again.
    relay.restore();
    expect(await pollUntil(async () => cacheOf(b).live, Boolean, 10_000)).toBe(true);
    const v = await newToken();
    expect(await whoami(b, v.token)).toEqual(ok);
    expect(cacheOf(b).get(hashToken(v.token), new Date())).toMatchObject({ tokenId: v.id });
  });

  it('counts lookups by outcome in /metrics, naming no token', async () => {
    const t = await newToken();
    await whoami(a, t.token);
    await whoami(a, t.token);
    const text = await a.services.metrics.registry.getSingleMetricAsString('aether_token_cache_lookups_total');
    expect(text).toMatch(/aether_token_cache_lookups_total\{result="hit"\} [1-9]/);
    expect(text).toMatch(/aether_token_cache_lookups_total\{result="miss"\} [1-9]/);
    expect(text).not.toContain(t.token);
    expect(text).not.toContain(hashToken(t.token));
  });
});
