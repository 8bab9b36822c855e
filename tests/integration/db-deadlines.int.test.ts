import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, type DbHandle } from '../../db/client';
import { PG_ADMIN_URL } from '../support/pg';
import { startTcpForwarder, type TcpForwarder } from '../support/tcp-forwarder';

/** 3 × the 1 s connect timeout + the 1 s statement timeout (db/client.ts). */
const DEADLINE_MS = 4000;

/**
 * The client's deadlines (db/client.ts) against a real PostgreSQL whose link the test freezes:
 * live connections stay open but nothing passes, as in a network partition.
 */
describe('database deadlines on a frozen link', () => {
  let link: TcpForwarder;
  let handle: DbHandle;
  beforeAll(async () => {
    const target = new URL(PG_ADMIN_URL);
    link = await startTcpForwarder({ host: target.hostname, port: Number(target.port || 5432) });
    // One connection: a leaked one would take the whole pool with it.
    handle = await openDb({ databaseUrl: link.url(PG_ADMIN_URL), dataDir: '/nonexistent', poolMax: 1, connectTimeoutSecs: 1, statementTimeoutMs: 1000 });
    await handle.db.execute(sql`select 1`);
  });
  afterAll(async () => {
    link?.restore();
    await handle?.close();
    await link?.close();
  });

  it('fails a transaction whose BEGIN is held, and its connection serves again once the link is back', async () => {
    link.cut('freeze');
    const t0 = performance.now();
    const tx = handle.db.transaction(async (t) => t.execute(sql`select 1`));
    await expect(tx).rejects.toThrow(`the database did not begin a transaction within ${DEADLINE_MS} ms`);
    expect(performance.now() - t0).toBeLessThan(DEADLINE_MS + 2000);
    link.restore();
    // The held BEGIN lands now; its body refuses to run, and the ROLLBACK frees the connection.
    // (Left reserved in an open transaction, the pool's one connection would take no query.)
    const answer = (await handle.db.execute(sql`select 2 as two`)) as unknown as Array<{ two: number }>;
    expect([...answer]).toEqual([{ two: 2 }]);
  });
});
