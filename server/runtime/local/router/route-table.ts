/**
 * Where the router sends each app's requests: the runtime writes it (switches, scale,
 * supervision), the router reads it on every request. In memory, in the process that runs both;
 * a restarted control plane fills it again as it re-adopts instances.
 */

/** One instance of a release, listening on 127.0.0.1:`port`. */
export interface RouteTarget {
  instance: string;
  port: number;
  /** Answering its health checks; a target that is not ready gets no requests. */
  ready: boolean;
}

/** `crash_loop`: the router answers 503; `stopped`: 502, like an app with nothing running. */
export type AppRouteState = 'serving' | 'crash_loop' | 'stopped';

export type Resolution =
  | { kind: 'target'; port: number }
  /** Nothing ready runs for the app (or no such app): 502. */
  | { kind: 'none'; appName: string }
  | { kind: 'crash_loop'; appName: string };

interface DeploymentRoute {
  deploymentId: string;
  targets: RouteTarget[];
  /** Round-robin cursor. */
  next: number;
}

interface AppRoute {
  current: string | null;
  state: AppRouteState;
  deployments: Map<string, DeploymentRoute>;
}

/** Length of the deployment id prefix in `<prefix>--<app>.<domain>`. */
export const DEPLOYMENT_PREFIX_LENGTH = 8;

export class RouteTable {
  readonly #apps = new Map<string, AppRoute>();
  readonly #inFlight = new Map<number, number>();
  readonly #idle = new Set<() => void>();
  readonly #listeners = new Set<() => void>();
  /** A proxy in front of the router (HAProxy) that also carries requests to instances. */
  #front: ((ports: number[], timeoutMs: number) => Promise<boolean>) | null = null;

  /** Called after every change of where requests go; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** `drain` also waits for it: the front's own requests to the ports. */
  setFront(drain: ((ports: number[], timeoutMs: number) => Promise<boolean>) | null): void {
    this.#front = drain;
  }

  /** Apps whose current release has ready instances and that are serving: what a front may send straight to them. */
  served(): Array<{ appName: string; ports: number[] }> {
    const out = [];
    for (const [appName, app] of this.#apps) {
      if (app.state !== 'serving' || !app.current) continue;
      const ports = (app.deployments.get(app.current)?.targets ?? []).filter((t) => t.ready).map((t) => t.port);
      if (ports.length) out.push({ appName, ports });
    }
    return out;
  }

  /** The app's current release: new requests to `<app>.<domain>` go to its ready targets from now on. */
  setCurrent(appName: string, deploymentId: string, targets: RouteTarget[]): void {
    const app = this.#app(appName);
    this.setTargets(appName, deploymentId, targets);
    app.current = deploymentId;
    app.state = 'serving';
    this.#changed();
  }

  /** One deployment's targets (current or not), also reachable at `<id prefix>--<app>.<domain>`. */
  setTargets(appName: string, deploymentId: string, targets: RouteTarget[]): void {
    const app = this.#app(appName);
    const existing = app.deployments.get(deploymentId);
    const copy = targets.map((t) => ({ ...t }));
    if (existing) existing.targets = copy;
    else app.deployments.set(deploymentId, { deploymentId, targets: copy, next: 0 });
    this.#changed();
  }

  /** Takes an instance out of rotation (failing checks, exited) or brings it back. */
  setReady(appName: string, deploymentId: string, instance: string, ready: boolean): void {
    const target = this.#apps.get(appName)?.deployments.get(deploymentId)?.targets.find((t) => t.instance === instance);
    if (!target || target.ready === ready) return;
    target.ready = ready;
    this.#changed();
  }

  removeDeployment(appName: string, deploymentId: string): void {
    const app = this.#apps.get(appName);
    if (!app) return;
    app.deployments.delete(deploymentId);
    if (app.current === deploymentId) app.current = null;
    this.#changed();
  }

  setState(appName: string, state: AppRouteState): void {
    const app = this.#app(appName);
    if (app.state === state) return;
    app.state = state;
    this.#changed();
  }

  removeApp(appName: string): void {
    if (this.#apps.delete(appName)) this.#changed();
  }

  /** Targets of one deployment (a copy), for status and tests. */
  targets(appName: string, deploymentId: string): RouteTarget[] {
    return (this.#apps.get(appName)?.deployments.get(deploymentId)?.targets ?? []).map((t) => ({ ...t }));
  }

  /**
   * Where a request for `appName` goes: its current release, or with `deploymentPrefix` the
   * deployment whose id starts with it. Round-robin over ready targets; `except` skips a port
   * that just failed (a retry), unless it is the only one.
   */
  resolve(appName: string, deploymentPrefix: string | null = null, except?: number): Resolution {
    const app = this.#apps.get(appName);
    if (!app) return { kind: 'none', appName };
    if (deploymentPrefix === null && app.state === 'crash_loop') return { kind: 'crash_loop', appName };
    // Stopped (scaled to 0): the app URL answers 502 even if a target has not been removed yet.
    if (deploymentPrefix === null && app.state === 'stopped') return { kind: 'none', appName };
    const route = deploymentPrefix === null ? (app.current ? app.deployments.get(app.current) : undefined) : this.#byPrefix(app, deploymentPrefix);
    const port = route ? pick(route, except) : null;
    return port === null ? { kind: 'none', appName } : { kind: 'target', port };
  }

  /** The router calls this when a request (or an upgraded socket) starts using `port`... */
  begin(port: number): void {
    this.#inFlight.set(port, (this.#inFlight.get(port) ?? 0) + 1);
  }

  /** ...and this exactly once when it is done with it, whatever the outcome. */
  end(port: number): void {
    const n = (this.#inFlight.get(port) ?? 1) - 1;
    if (n > 0) {
      this.#inFlight.set(port, n);
      return;
    }
    this.#inFlight.delete(port);
    for (const wake of [...this.#idle]) wake();
  }

  /** Requests (and upgraded connections) in flight to this instance port right now. */
  inFlight(port: number): number {
    return this.#inFlight.get(port) ?? 0;
  }

  /** Resolves true once nothing is in flight to any of `ports` (here and at the front), or false after `timeoutMs`. */
  async drain(ports: number[], timeoutMs: number): Promise<boolean> {
    const [own, front] = await Promise.all([this.#drainOwn(ports, timeoutMs), this.#front?.(ports, timeoutMs) ?? true]);
    return own && front;
  }

  #drainOwn(ports: number[], timeoutMs: number): Promise<boolean> {
    const idle = () => ports.every((p) => this.inFlight(p) === 0);
    if (idle()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (drained: boolean) => {
        clearTimeout(timer);
        this.#idle.delete(check);
        resolve(drained);
      };
      const check = () => {
        if (idle()) done(true);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#idle.add(check);
    });
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }

  #app(appName: string): AppRoute {
    let app = this.#apps.get(appName);
    if (!app) {
      app = { current: null, state: 'serving', deployments: new Map() };
      this.#apps.set(appName, app);
    }
    return app;
  }

  #byPrefix(app: AppRoute, prefix: string): DeploymentRoute | undefined {
    if (prefix.length !== DEPLOYMENT_PREFIX_LENGTH) return undefined;
    for (const [id, route] of app.deployments) if (id.startsWith(prefix)) return route;
    return undefined;
  }
}

function pick(route: DeploymentRoute, except?: number): number | null {
  const { targets } = route;
  let fallback: number | null = null;
  for (let i = 0; i < targets.length; i++) {
    const t = targets[(route.next + i) % targets.length]!;
    if (!t.ready) continue;
    if (t.port === except) {
      fallback = t.port;
      continue;
    }
    route.next = (route.next + i + 1) % targets.length;
    return t.port;
  }
  return fallback;
}
