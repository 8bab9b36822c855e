import type { AnyRouter } from '@trpc/server';

/** Procedures whose success creates something: 201 on REST, as the seed answers. */
export const CREATED_PROCEDURES: ReadonlySet<string> = new Set(['apps.create', 'keys.add', 'deployments.register']);

/** Routes served by hand rather than from a procedure (see handler.ts). */
const HAND_ROUTES: Array<{ method: string; path: string }> = [
  { method: 'POST', path: '/artifacts' },
  { method: 'HEAD', path: '/artifacts/{digest}' },
  { method: 'GET', path: '/apps/{app_name}/logs' },
];

interface Route {
  path: string;
  re: RegExp;
  methods: Set<string>;
  /** Path parameters: of several matching templates, the one with fewest is the route. */
  params: number;
}

function templateRe(path: string): RegExp {
  const source = path
    .split('/')
    .map((seg) => (/^\{[^}]+\}$/.test(seg) ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}/?$`);
}

function routesOf(router: AnyRouter): Route[] {
  const byPath = new Map<string, Set<string>>();
  const add = (method: string, path: string) => {
    const methods = byPath.get(path) ?? new Set<string>();
    methods.add(method);
    byPath.set(path, methods);
  };
  for (const procedure of Object.values(router._def.procedures as Record<string, { _def: { meta?: { openapi?: { method: string; path: string } } } }>)) {
    const openapi = procedure._def.meta?.openapi;
    if (openapi) add(openapi.method, openapi.path);
  }
  for (const r of HAND_ROUTES) add(r.method, r.path);
  for (const [path, methods] of byPath) if (methods.has('GET')) add('HEAD', path);
  return [...byPath].map(([path, methods]) => ({ path, re: templateRe(path), methods, params: (path.match(/\{/g) ?? []).length }));
}

/**
 * Which methods each REST path answers, from the procedures' `meta.openapi` and the hand
 * routes: a known path asked with another method is a 405 with this list as `Allow`.
 */
export function restRouteTable(router: AnyRouter): (pathname: string) => string[] {
  const routes = routesOf(router);
  return (pathname) => {
    const allowed = new Set<string>();
    for (const r of routes) if (r.re.test(pathname)) for (const m of r.methods) allowed.add(m);
    return [...allowed].sort();
  };
}

/** The route template a path matches (`/apps/{app_name}/deployments`), null for none: a metrics label. */
export function restRouteTemplate(router: AnyRouter): (pathname: string) => string | null {
  const routes = routesOf(router).sort((a, b) => a.params - b.params);
  return (pathname) => routes.find((r) => r.re.test(pathname))?.path ?? null;
}
