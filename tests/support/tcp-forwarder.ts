import net from 'node:net';

/**
 * A TCP forwarder in front of a real service (PostgreSQL, Redis, the S3 server) whose link a
 * fault test can cut and restore. `cut('refuse')` closes the listener's door: live connections
 * are reset and new ones refused, as when the service's host goes down. `cut('blackhole')`
 * keeps accepting and reading but never answers, as when packets are dropped: what a client
 * sees is its own timeout. `cut('freeze')` is a partition under live connections: they stay
 * open but nothing passes either way (held, not lost, as TCP would retransmit it), and new ones
 * are black-holed. `restore()` forwards again, held bytes included.
 */
export interface TcpForwarder {
  port: number;
  url(base: string): string;
  cut(mode?: 'refuse' | 'blackhole' | 'freeze'): void;
  restore(): void;
  /** Connections forwarded since start (a client that reconnected opened a new one). */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startTcpForwarder(target: { host: string; port: number }): Promise<TcpForwarder> {
  let mode: 'open' | 'refuse' | 'blackhole' | 'freeze' = 'open';
  const links = new Set<[net.Socket, net.Socket]>();
  let connections = 0;
  const live = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    live.add(s);
    s.once('close', () => live.delete(s));
  };
  const server = net.createServer((client) => {
    track(client);
    client.on('error', () => {});
    if (mode === 'refuse') return client.resetAndDestroy();
    // A black hole reads and drops whatever arrives; the client waits for its own timeout.
    if (mode === 'blackhole' || mode === 'freeze') return void client.resume();
    connections += 1;
    const upstream = net.connect(target.port, target.host);
    track(upstream);
    upstream.on('error', () => client.resetAndDestroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    const link: [net.Socket, net.Socket] = [client, upstream];
    links.add(link);
    client.once('close', () => links.delete(link));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const dropAll = () => {
    for (const s of live) s.resetAndDestroy();
  };
  return {
    port,
    url(base) {
      const u = new URL(base);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    cut(how = 'refuse') {
      mode = how;
      if (how !== 'freeze') return dropAll();
      for (const [client, upstream] of links) {
        client.unpipe(upstream).pause();
        upstream.unpipe(client).pause();
      }
    },
    restore() {
      const frozen = mode === 'freeze';
      mode = 'open';
      if (!frozen) return;
      for (const [client, upstream] of links) {
        client.pipe(upstream);
        upstream.pipe(client);
      }
    },
    get connections() {
      return connections;
    },
    close() {
      dropAll();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
