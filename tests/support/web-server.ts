import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveWeb as serveWebRequest, type WebHandler } from '../../server/http/node-web';

export { toWebRequest, type WebHandler } from '../../server/http/node-web';

/** A running test server; `url` has no trailing slash. */
export interface WebServer {
  url: string;
  close(): Promise<void>;
}

type NodeListener = (req: IncomingMessage, res: ServerResponse) => Promise<void>;
const plainServer = (listener: NodeListener): Server => createServer((req, res) => void listener(req, res));

/** Listens on 127.0.0.1 and a free port; `close` drops open connections first. */
export async function listenLocal(server: Server): Promise<WebServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/**
 * Serves a web-standard handler from a real `node:http` server on 127.0.0.1 and a free port,
 * as the control plane's edge serves its web handlers (server/http/node-web.ts): the request
 * body is a stream (never buffered), and `req.signal` aborts when the client goes away.
 */
export async function serveWeb(handler: WebHandler, serverFor: (listener: NodeListener) => Server = plainServer): Promise<WebServer> {
  return listenLocal(
    serverFor(async (req, res) => {
      try {
        await serveWebRequest(handler, req, res);
      } catch (err) {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(`handler threw: ${String(err)}`);
        else res.destroy();
      }
    }),
  );
}
