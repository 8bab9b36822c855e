/** Postgres SQLSTATE of an error from either driver (drizzle wraps it in `cause`). */
export function sqlState(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export const isUniqueViolation = (err: unknown) => sqlState(err) === '23505';

const FROM_DATABASE = Symbol.for('aether.fromDatabase');

/** Marks an error as the database's, for one that carries no sign of it (a socket reset at `begin`). */
export function markFromDatabase(err: unknown): unknown {
  if (err && typeof err === 'object') (err as { [FROM_DATABASE]?: true })[FROM_DATABASE] = true;
  return err;
}

export const isFromDatabase = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && (err as { [FROM_DATABASE]?: true })[FROM_DATABASE] === true;
