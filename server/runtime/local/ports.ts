import { randomInt } from 'node:crypto';
import net from 'node:net';

export interface PortRange {
  low: number;
  high: number;
}

/**
 * Below Linux's ephemeral range (32768-60999): no outgoing connection on the host holds one of
 * these as its source port, so an app's port cannot be taken by a client between our check and
 * the app's bind, as a kernel-chosen ephemeral port could.
 */
export const DEFAULT_APP_PORT_RANGE: PortRange = { low: 20_000, high: 29_999 };

/** `<low>-<high>`, as AETHER_APP_PORT_RANGE (validated by the env schema) gives it. */
export function parsePortRange(value: string): PortRange {
  const [low, high] = value.split('-').map(Number) as [number, number];
  return { low, high };
}

/** How long a port handed out stays ours even unbound: an app under load may take seconds to listen. */
const HANDED_OUT_MS = 120_000;
const ATTEMPTS = 64;

export interface PortAllocator {
  /** A port of the range free on 127.0.0.1 now and not handed out by this allocator recently. */
  take(): Promise<number>;
}

export function createPortAllocator(range: PortRange = DEFAULT_APP_PORT_RANGE, now = () => Date.now()): PortAllocator {
  const handedOut = new Map<number, number>();
  return {
    async take() {
      const t = now();
      for (const [port, at] of handedOut) if (t - at > HANDED_OUT_MS) handedOut.delete(port);
      // Random probes rather than a scan: control planes sharing a host rarely pick the same one.
      for (let i = 0; i < ATTEMPTS; i++) {
        const port = randomInt(range.low, range.high + 1);
        if (handedOut.has(port) || !(await bindable(port))) continue;
        handedOut.set(port, t);
        return port;
      }
      throw new Error(`no free port for an app instance in ${range.low}-${range.high} after ${ATTEMPTS} tries (AETHER_APP_PORT_RANGE)`);
    },
  };
}

/**
 * Free on every address, as the app's own `listen(PORT)` (dual-stack `::` by default) needs it:
 * a port another tenant holds on [::1] or 127.0.0.2 only would still fail the app. IPv4 alone
 * where the host has no IPv6.
 */
async function bindable(port: number): Promise<boolean> {
  const onAny = await tryListen(port, '::');
  return onAny === 'no-ipv6' ? (await tryListen(port, '0.0.0.0')) === 'free' : onAny === 'free';
}

function tryListen(port: number, host: string): Promise<'free' | 'taken' | 'no-ipv6'> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL' ? 'no-ipv6' : 'taken'));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve('free')));
  });
}
