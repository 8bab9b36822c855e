import type { TApp } from '../../server/contract/outputs';
import { call, createApi, type Api } from '../client';
import { resolveConnection, type CliEnv } from '../config';
import { EXIT } from '../errors';
import { describeApp, plural } from '../lifecycle/describe';
import { waitForHealth, type HealthSource, type LifecyclePhase } from '../lifecycle/wait';
import type { Output } from '../output';
import { resolveTargetApp } from '../project';

export type LifecycleVerb = 'scale' | 'stop' | 'start' | 'restart';

export interface LifecycleOptions {
  app?: string;
  /** Only for scale. */
  instances?: number;
  wait: boolean;
  /** Seconds the wait may take. */
  timeout: number;
  format: 'text' | 'json';
  cwd: string;
}

/** The job that makes the runtime follow records `scale` for scale/stop/start, `restart` for restart. */
const PHASE: Record<LifecycleVerb, LifecyclePhase> = { scale: 'scale', stop: 'scale', start: 'scale', restart: 'restart' };

function ask(api: Api, verb: LifecycleVerb, app: string, instances: number | undefined): Promise<TApp> {
  const ref = { app_name: app };
  if (verb === 'scale') return call(`scaling ${app}`, () => api.apps.scale.mutate({ ...ref, instances: instances! }));
  if (verb === 'stop') return call(`stopping ${app}`, () => api.apps.stop.mutate(ref));
  if (verb === 'start') return call(`starting ${app}`, () => api.apps.start.mutate(ref));
  return call(`restarting ${app}`, () => api.apps.restart.mutate(ref));
}

function done(verb: LifecycleVerb, app: TApp): string {
  if (verb === 'scale') return `scaled ${app.name} to ${plural(app.instances)}`;
  if (verb === 'stop') return `stopped ${app.name}`;
  if (verb === 'start') return `started ${app.name} with ${plural(app.instances)}`;
  return `restarted ${app.name} (${plural(app.instances)})`;
}

/** The running deployment and its last event id: the wait counts only what comes after. */
async function baseline(api: Api, app: string): Promise<{ deploymentId: string; afterId: number } | null> {
  const deployments = await call('reading deployments', () => api.deployments.list.query({ app_name: app, limit: 20 }));
  const running = deployments.find((d) => d.status === 'running');
  if (!running) return null;
  const events = await call('reading deployment events', () => api.deployments.events.query({ id: running.id }));
  return { deploymentId: running.id, afterId: events.reduce((m, e) => Math.max(m, e.id), 0) };
}

/**
 * `aether scale|stop|start|restart`: asks the control plane for the change, then (unless
 * --no-wait) waits until the runtime has applied it and the app is healthy (stopped for stop).
 * The JSON result is `{ app }`; a crash loop or timeout puts `error` beside it and exits 20.
 */
export async function lifecycleCommand(verb: LifecycleVerb, opts: LifecycleOptions, env: CliEnv, out: Output): Promise<number> {
  const { app: name, settings } = await resolveTargetApp(opts.app, opts.cwd, env, (m) => out.warn(m));
  const api = createApi(await resolveConnection(env, (m) => out.warn(m), settings));
  // Without a running release the server refuses the change (conflict) and says why.
  const base = opts.wait ? await baseline(api, name) : null;
  let app = await ask(api, verb, name, opts.instances);
  out.info(`${verb === 'stop' ? 'stopping' : verb === 'restart' ? 'restarting' : `scaling to ${plural(app.instances)}`}: ${app.name}`);
  if (opts.format === 'json') out.json({ app });
  if (base) {
    const target = verb === 'stop' ? 'stopped' : 'healthy';
    out.info(`waiting for ${app.name} to be ${target} (up to ${opts.timeout}s; --no-wait skips this)`);
    // The app as the wait last read it: the JSON document of a failure shows what the error says.
    let lastSeen = app;
    const src: HealthSource = {
      app: async () => (lastSeen = await call('reading app', () => api.apps.get.query({ app_name: name }))),
      eventsAfter: (afterId) => call('reading deployment events', () => api.deployments.events.query({ id: base.deploymentId, after_id: afterId })),
    };
    try {
      app = await waitForHealth(src, {
        phase: PHASE[verb],
        afterId: base.afterId,
        target,
        timeoutMs: opts.timeout * 1000,
        onProgress: (a) => out.info(`${a.name}: ${a.health ?? 'no health yet'}${a.health_message ? ` (${a.health_message})` : ''}`),
      });
    } catch (err) {
      // The JSON document carries the app as last seen, with the error beside it.
      if (opts.format === 'json') out.json({ app: lastSeen });
      else out.result(describeApp(lastSeen));
      throw err;
    }
  }
  if (opts.format === 'json') out.json({ app });
  else out.result(`${done(verb, app)}\n${describeApp(app)}`);
  return EXIT.ok;
}
