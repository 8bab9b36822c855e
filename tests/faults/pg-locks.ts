import postgres from 'postgres';
import { pollUntil } from '../support/poll';

/**
 * A transaction of the test's own holding a lock in the scratch database. A job that needs the
 * same lock waits on it, mid-work, for as long as the test likes: the window in which a fault
 * (a SIGKILL of the worker) is certain to strike that job, and not before or after it.
 */
export interface HeldLock {
  /** The holder's backend pid: what a blocked statement's `pg_blocking_pids` names. */
  pid: number;
  /** Waits until a statement matching `query` (ILIKE) is blocked by this lock; its text. */
  blocked(query: string, timeoutMs?: number): Promise<string>;
  /** Rolls back and disconnects; a second call does nothing. */
  release(): Promise<void>;
}

/** Opens a transaction, runs `statements` in it (the lock), and keeps it open until `release`. */
export async function holdLock(databaseUrl: string, statements: string[]): Promise<HeldLock> {
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  const conn = await sql.reserve();
  await conn`begin`;
  for (const s of statements) await conn.unsafe(s);
  const [row] = await conn<Array<{ pid: number }>>`select pg_backend_pid() as pid`;
  const pid = row!.pid;
  let released = false;
  return {
    pid,
    async blocked(query, timeoutMs = 30_000) {
      const rows = await pollUntil(
        () => sql<Array<{ query: string }>>`
          select query from pg_stat_activity
          where datname = current_database() and ${pid} = any(pg_blocking_pids(pid)) and query ilike ${query}`,
        (r) => r.length > 0,
        timeoutMs,
      );
      if (rows.length === 0)
        throw new Error(`no statement like ${query} blocked by the held lock after ${timeoutMs} ms`);
      return rows[0]!.query;
    },
    async release() {
      if (released) return;
      released = true;
      await conn`rollback`;
      conn.release();
      await sql.end({ timeout: 5 });
    },
  };
}
