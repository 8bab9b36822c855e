import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_ADMIN_URL } from '../support/pg';
import { startTcpForwarder, type TcpForwarder } from '../support/tcp-forwarder';

/**
 * postgres.js (3.4.9, patched: patches/postgres+3.4.9.patch) with its server's link cut under
 * a stream of queries, with none of our deadlines around it: every query settles by itself,
 * promptly once the link is back, with its own answer; nothing escapes as an unhandled
 * rejection; and every connection of the pool answers again. Unpatched: a query waiting for a
 * connection was pinned to one sleeping a backoff of 10-20 s (the pool-wide retry counter grew
 * with every connection failing at once), the array-types fetch of a connection cut during
 * its startup rejected with nobody listening, a query handed to a connection between its
 * socket's 'error' and 'close' (a retry from a rejection handler) never settled, and a
 * connection whose socket died with a write buffered stopped sending its StartupMessage.
 */
describe('postgres.js when the link to PostgreSQL is cut under load', () => {
  let link: TcpForwarder;
  let sql: postgres.Sql;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => void unhandled.push(e);
  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    const target = new URL(PG_ADMIN_URL);
    link = await startTcpForwarder({ host: target.hostname, port: Number(target.port || 5432) });
    sql = postgres(link.url(PG_ADMIN_URL), { max: 10, connect_timeout: 2, onnotice: () => {} });
  });
  afterAll(async () => {
    await sql?.end({ timeout: 1 });
    await link?.close();
    process.off('unhandledRejection', onUnhandled);
  });

  it('settles every query by itself, and every connection answers after the link is back', async () => {
    // The link is down 20 ms at a time: a query settles within a small backoff, the connect
    // timeout (2 s) and a round trip. 5 s is far above that, and far below the 10-20 s of a
    // query pinned to a connection sleeping the unpatched pool-wide backoff.
    const settleMs = 5_000;
    const pending = new Set<Promise<unknown>>();
    const outcomes = { ok: 0, failed: 0, wrong: 0, hung: 0 };
    let n = 0;
    const issue = (retry = true) => {
      const id = n++;
      // Each query asks for its own number: a connection that answers with another query's
      // result (or an empty one) is poisoned. A failed query is retried once, straight from its
      // rejection, as an app would: that lands on a connection whose socket has failed ('error')
      // but not yet closed ('close' comes a loop turn later).
      const q = sql`select pg_sleep(0.001), ${id}::int as n`.then(
        (rows) => (rows[0]?.n === id ? 'ok' : 'wrong'),
        () => {
          if (retry) issue(false);
          return 'failed';
        },
      );
      const bounded = Promise.race([q, new Promise((r) => setTimeout(() => r('hung'), settleMs))]).then((outcome) => {
        outcomes[outcome as keyof typeof outcomes]++;
        pending.delete(bounded);
      });
      pending.add(bounded);
    };
    for (let round = 0; round < 16; round++) {
      // Queries in flight on every connection, then the link reset under them while more arrive.
      for (let i = 0; i < 40; i++) issue();
      await new Promise((r) => setTimeout(r, 5 + round * 3));
      link.cut('refuse');
      for (let i = 0; i < 40; i++) issue();
      await new Promise((r) => setTimeout(r, 20));
      link.restore();
      for (let i = 0; i < 40; i++) issue();
      await new Promise((r) => setTimeout(r, 50));
    }
    while (pending.size) await Promise.all(pending);
    expect({ hung: outcomes.hung, wrong: outcomes.wrong }).toEqual({ hung: 0, wrong: 0 });
    // The cuts did hit queries, and queries went through between them.
    expect(outcomes.failed).toBeGreaterThan(0);
    expect(outcomes.ok).toBeGreaterThan(0);
    // Every pooled connection serves again: 50 rounds of 10 concurrent queries, each answered.
    // (Unpatched, a connection whose socket died with a write buffered never flushed again: its
    // every reconnect failed with CONNECT_TIMEOUT, and so did each query it was handed.)
    for (let i = 0; i < 50; i++) {
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          Promise.race([
            sql`select ${i * 10 + j}::int as n`.then(
              (r) => r[0]!.n,
              (e: { code?: string; message?: string }) => `failed: ${e.code ?? e.message}`,
            ),
            new Promise((r) => setTimeout(() => r('hung'), 5000)),
          ]),
        ),
      );
      expect(answers).toEqual(Array.from({ length: 10 }, (_, j) => i * 10 + j));
    }
    // Nothing from inside the driver escaped as an unhandled rejection (it kills a Node process).
    expect(unhandled).toEqual([]);
  }, 30_000);

  it("fails the first query, and nothing else, when a new connection's array-types fetch fails", async () => {
    // The deterministic form of a link cut while a new connection fetches its array types (its
    // first statement, fetch_types): a 1 ms statement_timeout cancels it. Unpatched, the
    // driver's own promise for it rejected with nobody listening.
    unhandled.length = 0;
    const strict = postgres(PG_ADMIN_URL, { max: 1, connection: { statement_timeout: 1 }, onnotice: () => {} });
    try {
      const outcome = await strict`select 1 as one`.then(
        () => 'ok',
        (e: { code?: string }) => e.code,
      );
      expect(outcome).toBe('57014');
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
    } finally {
      await strict.end({ timeout: 1 });
    }
  });
});
