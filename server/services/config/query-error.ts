/**
 * Runs a query that writes config entries. Drizzle's query error repeats the parameters in its
 * message and stack (every plain value, every secret's ciphertext), which would reach the
 * "procedure crashed" log, the portal's console.error and a failed job's stored reason: it is
 * replaced by one naming `what` and the driver's own message (and SQLSTATE), without the
 * driver error itself, whose `detail` may quote the failing row.
 */
export async function withoutParams<T>(what: string, query: () => Promise<T>): Promise<T> {
  try {
    return await query();
  } catch (err) {
    if (!(err instanceof Error) || !('params' in err)) throw err;
    const driver: unknown = err.cause;
    const reason = driver instanceof Error ? driver.message : 'query error';
    const replaced = new Error(`${what} failed: ${reason}`) as Error & { code?: unknown };
    if (driver instanceof Error && 'code' in driver) replaced.code = driver.code;
    throw replaced;
  }
}
