import { APP_NAME_RE } from '../../../contract/app-name';
import { DEPLOYMENT_PREFIX_LENGTH } from './route-table';

/** What a Host header names: an app's current release, or one deployment of it by id prefix. */
export interface HostRoute {
  appName: string;
  deploymentPrefix: string | null;
}

const PREFIX_RE = new RegExp(`^[a-z0-9]{${DEPLOYMENT_PREFIX_LENGTH}}$`);
const PORT_RE = /^\d{1,5}$/;
/** Hosts seen recently: the same few names arrive on every request. Bounded, as hosts are client input. */
const CACHE_LIMIT = 1024;

/**
 * Reads `<app>.<domain>` and `<8 chars>--<app>.<domain>` (any case, optional `:port`).
 * Anything else (no Host, the bare domain, another domain, IPs, nested names) is null: a 404.
 */
export function createHostParser(domain: string): (host: string | undefined) => HostRoute | null {
  const suffix = `.${domain.toLowerCase()}`;
  const cache = new Map<string, HostRoute | null>();
  return (host) => {
    if (host === undefined) return null;
    const cached = cache.get(host);
    if (cached !== undefined) return cached;
    const route = parseHost(host, suffix);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(host, route);
    return route;
  };
}

function parseHost(host: string, suffix: string): HostRoute | null {
  let name = host.toLowerCase();
  const colon = name.lastIndexOf(':');
  if (colon !== -1) {
    if (!PORT_RE.test(name.slice(colon + 1))) return null;
    name = name.slice(0, colon);
  }
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (!name.endsWith(suffix)) return null;
  const label = name.slice(0, -suffix.length);
  const sep = label.indexOf('--');
  if (sep === DEPLOYMENT_PREFIX_LENGTH && PREFIX_RE.test(label.slice(0, sep))) {
    const appName = label.slice(sep + 2);
    return APP_NAME_RE.test(appName) ? { appName, deploymentPrefix: label.slice(0, sep) } : null;
  }
  return APP_NAME_RE.test(label) ? { appName: label, deploymentPrefix: null } : null;
}
