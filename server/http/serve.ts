import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import next from 'next';
import { getServices } from '../boot';
import { createHttpServer } from './edge';
import { createEdge, isPortalPath } from './router';
import { pathnameOf } from './node-request';

export interface ServeOptions {
  /** The project root: next.config.mjs and the build. */
  dir: string;
  hostname: string;
  /** 0 picks a free port. */
  port: number;
}

export interface Serving {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** How long a stop waits for open requests (followed logs never end by themselves). */
const CLOSE_GRACE_MS = 10_000;

/**
 * The control plane on one port: the API from the route table (server/http/router.ts), the
 * portal from Next's production build, both behind {@link createHttpServer}.
 */
export async function serve(opts: ServeOptions): Promise<Serving> {
  const app = next({ dir: opts.dir, hostname: opts.hostname, port: opts.port, dev: false });
  const handle = app.getRequestHandler();
  await app.prepare();
  const api = createEdge(getServices);
  const server = createHttpServer((req, res) => (isPortalPath(pathnameOf(req.url)) ? handle(req, res) : api(req, res)));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.hostname, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.hostname.includes(':') ? `[${opts.hostname}]` : opts.hostname}:${port}`,
    server,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const timer = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
      await closed;
      clearTimeout(timer);
      await app.close();
    },
  };
}
