import type { TestPlane } from './harness';

/** Polls `load` until `done` or the deadline; returns the last value. */
export async function pollUntil<T>(load: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await load();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    value = await load();
  }
  return value;
}

/** The current value of an unlabelled counter or gauge in the plane's metrics registry. */
export async function counterValue(plane: TestPlane, name: string): Promise<number> {
  const text = await plane.services.metrics.registry.getSingleMetricAsString(name);
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? 0);
}
