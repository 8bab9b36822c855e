/**
 * AETHER_APP_PORT_RANGE for a control plane this test worker starts: test files run in parallel,
 * each with planes of its own, and planes in different processes cannot see each other's
 * just-handed-out ports. A block of 1000 per worker (VITEST_POOL_ID), half for in-process planes
 * and half for the plane processes they spawn.
 */
export function appPortRangeOfThisWorker(kind: 'in-process' | 'child-process'): string {
  const pool = Number(process.env.VITEST_POOL_ID ?? 1);
  const low = 20_000 + ((pool - 1) % 10) * 1000 + (kind === 'child-process' ? 500 : 0);
  return `${low}-${low + 499}`;
}
