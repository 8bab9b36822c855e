/**
 * Runs tasks for the same key (an app) one after another; different keys run concurrently.
 * A driver serialises an app's rollouts and stops through it, so two never interleave.
 */
export function appLocks() {
  const tails = new Map<string, Promise<unknown>>();
  return <T>(key: string, task: () => Promise<T>): Promise<T> => {
    const run = (tails.get(key) ?? Promise.resolve()).catch(() => {}).then(task);
    tails.set(key, run);
    void run
      .catch(() => {})
      .finally(() => {
        if (tails.get(key) === run) tails.delete(key);
      });
    return run;
  };
}
