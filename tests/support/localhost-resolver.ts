/**
 * Vitest setup: `<name>.localhost` resolves to loopback in this test process, as it does in
 * browsers and curl (RFC 6761) but not through glibc, so `fetch(app.url)` reaches the router
 * the way a user's browser does. Only names under `.localhost` change; the rest resolve as ever.
 */
import dns from 'node:dns';

const LOCALHOST_SUBDOMAIN = /\.localhost\.?$/i;
const systemLookup = dns.lookup;

function lookup(hostname: string, ...rest: unknown[]): void {
  const target = LOCALHOST_SUBDOMAIN.test(hostname) ? '127.0.0.1' : hostname;
  (systemLookup as (...args: unknown[]) => void).call(dns, target, ...rest);
}

dns.lookup = lookup as typeof dns.lookup;
