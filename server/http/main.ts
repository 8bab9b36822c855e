/**
 * `npm start`: the control plane's web process (portal, API, and with the embedded defaults the
 * workers too, started by instrumentation.ts). Flags as `next start` takes them:
 * `-p/--port` (default $PORT, else 3000) and `-H/--hostname` (default 0.0.0.0).
 *
 * Started with `--max-semi-space-size=64` (package.json, Dockerfile, scripts/up.mjs, the tests'
 * plane process): every request allocates query builders and rows that die young, and with
 * V8's default young generation the scavenger ran often enough to cost about a sixth of a
 * presign's CPU (measured: 4.6 -> 3.8 ms per presign at 32 connections, 3 alternating pairs).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';

// Before Next loads: it picks its production code paths from NODE_ENV, as `next start` sets it.
Object.assign(process.env, { NODE_ENV: process.env.NODE_ENV ?? 'production' });
// Next replaces the global Date with a wrapper that reports clock reads to `cacheComponents`
// prerenders, which the portal does not enable. Every timestamp a query maps then goes through
// Reflect.construct, and every clock read through two async-context lookups (5% of a list
// request's CPU): the native Date comes back once Next has loaded.
const NativeDate = Date;
const { serve } = await import('./serve');

const { values } = parseArgs({
  options: { port: { type: 'string', short: 'p' }, hostname: { type: 'string', short: 'H' } },
});
const serving = await serve({
  dir: path.resolve(import.meta.dirname, '../..'),
  hostname: values.hostname ?? '0.0.0.0',
  port: Number(values.port ?? process.env.PORT ?? 3000),
});
if (globalThis.Date !== NativeDate) {
  globalThis.Date = NativeDate;
  Object.defineProperty(NativeDate.prototype, 'constructor', { value: NativeDate, writable: true, configurable: true });
}
console.log(`control plane listening on ${serving.url}`);

// As `next start` does: stop taking connections, let Next finish, exit with the signal's code.
let stopping = false;
for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void serving.close().finally(() => process.exit(code));
  });
}
