import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { markFromDatabase } from './errors';
import * as schema from './schema';

export type Schema = typeof schema;
/** The one database type services see, whichever driver is behind it. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
/** A transaction handle; data functions take `Db | Tx` first so they compose. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type Queryable = Db | Tx;

export interface DbHandle {
  db: Db;
  kind: 'postgres' | 'pglite';
  /** Runs committed migrations (idempotent; serialised across processes on Postgres). */
  migrate(): Promise<void>;
  close(): Promise<void>;
}

export interface DbOptions {
  /** postgres.js connection string; when absent, PGlite persisted under `dataDir`. */
  databaseUrl?: string;
  dataDir: string;
  migrationsDir?: string;
  poolMax?: number;
  /** Named prepared statements on PostgreSQL (default true). */
  prepare?: boolean;
  /** How long a new connection may take before the query waiting for it fails (default 5 s). */
  connectTimeoutSecs?: number;
  /** The server cancels a statement running longer (default 30 s; 0: never). Migrations are exempt. */
  statementTimeoutMs?: number;
}

const DEFAULT_MIGRATIONS_DIR = path.join(process.cwd(), 'db', 'migrations');
// Any fixed 64-bit key: every Aether process takes the same lock before migrating.
const MIGRATION_LOCK_KEY = 7_340_912_001;

export async function openDb(opts: DbOptions): Promise<DbHandle> {
  const migrationsFolder = opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR;
  if (opts.databaseUrl) return openPostgres(opts.databaseUrl, migrationsFolder, opts);
  return openPglite(path.join(opts.dataDir, 'pglite'), migrationsFolder);
}

async function openPostgres(url: string, migrationsFolder: string, opts: DbOptions): Promise<DbHandle> {
  const { default: postgres } = await import('postgres');
  const { drizzle } = await import('drizzle-orm/postgres-js');
  const prepare = opts.prepare ?? true;
  const statementTimeoutMs = opts.statementTimeoutMs ?? 30_000;
  // prepare: each statement is parsed and planned once per connection, then only bound and run.
  // The timeouts bound how long a request can wait on a database that is down or stuck: an
  // unreachable server fails the connect, a stuck statement is cancelled by the server.
  const client = postgres(url, {
    max: opts.poolMax ?? 10,
    prepare,
    onnotice: () => {},
    connect_timeout: opts.connectTimeoutSecs ?? 5,
    ...(statementTimeoutMs > 0 && { connection: { statement_timeout: statementTimeoutMs } }),
  });
  // A query may wait for a connection (two connect attempts), then for its answer (the statement
  // timeout, or a minute without one, and one more connect timeout).
  const connectMs = (opts.connectTimeoutSecs ?? 5) * 1000;
  const deadlineMs = 3 * connectMs + (statementTimeoutMs || 60_000);
  const db = drizzle(preparingByDefault(client, deadlineMs), { schema }) as unknown as Db;
  return {
    db,
    kind: 'postgres',
    async migrate() {
      const { migrate } = await import('drizzle-orm/postgres-js/migrator');
      // A dedicated single connection holds the advisory lock for the whole migration.
      const lockClient = postgres(url, { max: 1, prepare, onnotice: () => {} });
      try {
        await lockClient`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
        await migrate(drizzle(lockClient, { schema }), { migrationsFolder });
        await lockClient`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
      } finally {
        await lockClient.end({ timeout: 5 });
      }
    },
    close: () => client.end({ timeout: 5 }),
  };
}

async function openPglite(dir: string, migrationsFolder: string): Promise<DbHandle> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  if (dir !== 'memory://') mkdirSync(dir, { recursive: true });
  const client = dir === 'memory://' ? new PGlite() : new PGlite(dir);
  const db = drizzle(client, { schema }) as unknown as Db;
  return {
    db,
    kind: 'pglite',
    async migrate() {
      const { migrate } = await import('drizzle-orm/pglite/migrator');
      await migrate(drizzle(client, { schema }), { migrationsFolder });
    },
    close: () => client.close(),
  };
}

/** The slice of a postgres.js client that drizzle runs queries through. */
interface QueryClient {
  unsafe(query: string, params?: unknown[] | QueryOptions, options?: QueryOptions): unknown;
  begin?(...args: unknown[]): unknown;
  savepoint?(...args: unknown[]): unknown;
}

type QueryOptions = { prepare?: boolean };

/** A parameter list this long is a variable-length `IN (...)`: a statement per length is not worth keeping. */
const MAX_PREPARED_PARAMS = 64;

/**
 * drizzle runs every query as `unsafe(text, params, { prepare: false })` unless it was built
 * with `.prepare(name)`, which overrides the pool's `prepare: true`: PostgreSQL then parses and
 * plans each statement on every call (measured: presign 172 -> 303 req/s, `GET /apps` 714 ->
 * 1,235 once prepared). This asks for a prepared statement for every query with a fixed
 * shape, in transactions and savepoints too; the pool's `prepare` option still decides.
 * postgres.js keeps them per connection, and connections are recycled every 30 to 60 minutes.
 * PostgreSQL may move a statement to a generic plan after five runs: our lists and lookups
 * filter on indexed keys, where the generic plan is the same index scan.
 */
function preparingByDefault<C extends QueryClient>(client: C, deadlineMs: number): C {
  const unsafe = client.unsafe.bind(client);
  client.unsafe = (query, params = [], options = {}) => {
    // postgres.js also takes unsafe(query, options).
    if (!Array.isArray(params)) return ownBegin(params) ? unsafe(query, [], params) : withDeadline(unsafe(query, [], params), deadlineMs);
    if (ownBegin(options)) return unsafe(query, params, options);
    return withDeadline(unsafe(query, params, { ...options, prepare: params.length > 0 && params.length <= MAX_PREPARED_PARAMS }), deadlineMs);
  };
  for (const method of ['begin', 'savepoint'] as const) {
    const original = client[method]?.bind(client);
    if (!original) continue;
    // begin(fn) or begin(options, fn): the transaction's own client is a new one.
    client[method] = (...args: unknown[]) => {
      const fn = args.at(-1);
      if (typeof fn !== 'function') return Promise.resolve(original(...args)).catch((err: unknown) => Promise.reject(markFromDatabase(err)));
      return transactionWithDeadline((body) => original(...args.slice(0, -1), body), fn as TransactionBody, deadlineMs);
    };
  }
  return client;
}

type TransactionBody = (tx: QueryClient) => unknown;

/**
 * postgres.js's own BEGIN (`begin()` sends it with `onexecute`, which reserves the connection for
 * the transaction). No deadline of its own: one that rejected it would make `begin()` give up
 * while the BEGIN still runs, leaving its connection reserved in a transaction nobody ends. The
 * transaction's deadline covers the caller, and a late BEGIN's body throws, which rolls it back.
 */
const ownBegin = (options: unknown) => typeof options === 'object' && options !== null && 'onexecute' in options;

const overdue = (deadlineMs: number, what: string) =>
  markFromDatabase(Object.assign(new Error(`the database did not ${what} within ${deadlineMs} ms`), { code: 'ETIMEDOUT' }));

/**
 * A transaction settles within `deadlineMs` of each step the body does not cover: its BEGIN (a
 * connection to get, the statement to run) and its COMMIT or ROLLBACK. On a link that drops
 * packets those wait for TCP to give up, a quarter of an hour. The body's own statements have
 * their deadline each. A body that gets its connection only after its caller was told the
 * database is down runs no statement: it throws, and the transaction rolls back.
 */
function transactionWithDeadline(run: (body: TransactionBody) => unknown, body: TransactionBody, deadlineMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let expired = false;
    // A body that threw is what the caller hears of, even when its ROLLBACK then hangs.
    let failure: { err: unknown } | null = null;
    const arm = (what: string) =>
      setTimeout(() => {
        expired = true;
        reject(failure ? failure.err : overdue(deadlineMs, what));
      }, deadlineMs);
    let timer = arm('begin a transaction');
    const guarded: TransactionBody = async (tx) => {
      clearTimeout(timer);
      if (expired) throw overdue(deadlineMs, 'begin a transaction');
      try {
        return await body(preparingByDefault(tx, deadlineMs));
      } catch (err) {
        failure = { err };
        throw err;
      } finally {
        timer = arm('end a transaction');
      }
    };
    Promise.resolve(run(guarded)).then(
      (value) => (clearTimeout(timer), resolve(value)),
      (err: unknown) => (clearTimeout(timer), reject(markFromDatabase(err))),
    );
  });
}

/** What of a postgres.js query the deadline needs: it runs on the first `then`. */
interface PendingQuery {
  then(onFulfilled?: (v: unknown) => unknown, onRejected?: (e: unknown) => unknown): unknown;
}

/**
 * Every query settles within `deadlineMs`, whatever the link does. postgres.js 3.4 can leave
 * one pending for good: a query handed to a pooled connection between its socket's 'error' and
 * 'close' is rejected by neither. Past the deadline the caller gets a database error of its own
 * (a 503). The query itself is not cancelled: cancelling a queued or pipelined postgres.js query
 * can strand its connection or crash the process on the cancel's own failed connect.
 */
function withDeadline(result: unknown, deadlineMs: number): unknown {
  const query = result as PendingQuery;
  if (typeof query?.then !== 'function') return result;
  const then = query.then.bind(query);
  let settled: Promise<unknown> | undefined;
  query.then = (onFulfilled, onRejected) => {
    settled ??= new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(overdue(deadlineMs, 'answer')), deadlineMs);
      then(
        (value) => (clearTimeout(timer), resolve(value)),
        (err: unknown) => (clearTimeout(timer), reject(err)),
      );
    });
    return settled.then(onFulfilled, onRejected);
  };
  return query;
}
