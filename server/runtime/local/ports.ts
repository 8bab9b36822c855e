import net from 'node:net';

/**
 * A TCP port free on 127.0.0.1 right now, chosen by the kernel. Another process could take
 * it before the app binds; the health check then fails and the rollout reports it.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
