/**
 * The router as the control plane runs it: the Node.js router alone, or HAProxy in front of it
 * (AETHER_ROUTER_ENGINE; `auto` takes HAProxy when it is installed). Either way one public
 * address, the same URLs, and drains that count every request to an instance.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../../logger';
import { findHaproxy, startHaproxyFront, type HaproxyFront } from './haproxy/front';
import { DEPLOYMENT_PREFIX_LENGTH, type RouteTable } from './route-table';
import { createRouter, type Router } from './router';

export type RouterEngine = 'auto' | 'haproxy' | 'node';

export interface ServingRouterOptions {
  table: RouteTable;
  domain: string;
  engine: RouterEngine;
  log?: Logger;
  /** For HAProxy; default `haproxy` on PATH or in /usr/sbin. */
  haproxyBin?: string;
  /** HAProxy's app slots to start with (tests of its growth). */
  haproxySlots?: number;
  /** Where HAProxy's pid is kept, so a control plane killed outright has its HAProxy stopped by the next one. */
  haproxyPidFile?: string;
}

export interface ServingRouter {
  /** Listens on the public address; `engine` says which one serves it. */
  listen(port: number, host: string): Promise<{ port: number; engine: 'haproxy' | 'node' }>;
  url(appName: string): string;
  deploymentUrl(appName: string, deploymentId: string): string;
  /** HAProxy's master process while it fronts the router (diagnostics, tests). */
  frontPid(): number | undefined;
  close(): Promise<void>;
}

/** HAProxy is the Node.js router's only client behind it, and closes idle connections itself. */
const BEHIND_FRONT_KEEP_ALIVE_MS = 3_600_000;

export function createServingRouter(o: ServingRouterOptions): ServingRouter {
  let node: Router | null = null;
  let front: HaproxyFront | null = null;
  let publicPort: number | null = null;
  const base = (label: string) => `http://${label}.${o.domain}:${publicPort}`;

  return {
    async listen(port, host) {
      const bin = o.engine === 'node' ? null : findHaproxy(o.haproxyBin);
      if (!bin) {
        if (o.engine === 'haproxy') throw new Error('AETHER_ROUTER_ENGINE=haproxy, but haproxy 2.4 or later is not installed (Debian: apt-get install haproxy)');
        node = createRouter({ table: o.table, domain: o.domain, log: o.log });
        publicPort = (await node.listen(port, host)).port;
        return { port: publicPort, engine: 'node' };
      }
      // Behind the front, on loopback only: what HAProxy hands over (and nothing else) reaches it.
      const frontSecret = randomBytes(16).toString('hex');
      node = createRouter({ table: o.table, domain: o.domain, log: o.log, frontSecret, keepAliveTimeoutMs: BEHIND_FRONT_KEEP_ALIVE_MS });
      const fallback = await node.listen(0, '127.0.0.1');
      try {
        front = await startHaproxyFront({ bin, host, port, domain: o.domain, fallbackPort: fallback.port, frontSecret, table: o.table, log: o.log, initialSlots: o.haproxySlots, pidFile: o.haproxyPidFile });
      } catch (err) {
        await node.close();
        node = null;
        throw err;
      }
      o.table.setFront(front.drain);
      publicPort = front.port;
      return { port: publicPort, engine: 'haproxy' };
    },
    url: (appName) => base(appName),
    deploymentUrl: (appName, deploymentId) => base(`${deploymentId.slice(0, DEPLOYMENT_PREFIX_LENGTH)}--${appName}`),
    frontPid: () => front?.pid(),
    async close() {
      o.table.setFront(null);
      await front?.close();
      front = null;
      await node?.close();
      node = null;
      publicPort = null;
    },
  };
}
