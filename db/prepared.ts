import type { Queryable } from './client';

/**
 * Queries built once per database handle, then run with placeholders. Building a drizzle
 * select walks every column and parameter on each call: ~0.2 ms of CPU, a tenth of the web
 * process's time under upload load before the hot lookups were built here. Keyed by the handle
 * (a transaction's is its own), held weakly, so a handle's queries go with it.
 */
const built = new WeakMap<Queryable, Map<string, unknown>>();

export function builtOnce<Q>(db: Queryable, name: string, build: (db: Queryable) => Q): Q {
  let queries = built.get(db);
  if (!queries) built.set(db, (queries = new Map()));
  let query = queries.get(name) as Q | undefined;
  if (query === undefined) queries.set(name, (query = build(db)));
  return query;
}
