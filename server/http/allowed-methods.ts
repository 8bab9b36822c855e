import { restRouteTable } from '../rest/routes';
import { TRPC_ENDPOINT, trpcAllowedMethods } from '../trpc/handler';
import { appRouter } from '../trpc/root';

/** The route handlers under app/ that are not REST procedures, with the methods they export. */
const ROUTES: Array<[RegExp, string[]]> = [
  [/^\/(?:healthz|readyz|metrics|openapi\.json)\/?$/, ['GET', 'HEAD']],
  [/^\/storage\//, ['GET', 'HEAD', 'PUT']],
  [/^\/runtime\/artifacts\/[^/]+\/?$/, ['GET', 'HEAD']],
];
/** Portal pages: read with GET, and server actions POST to them. */
const PAGES = ['GET', 'HEAD', 'POST'];

const restMethods = restRouteTable(appRouter);

/** The methods a path of the control plane serves: the `Allow` of a 405 answered before Next routes. */
export function allowedMethods(pathname: string): string[] {
  if (pathname.startsWith(`${TRPC_ENDPOINT}/`)) return trpcAllowedMethods(pathname);
  for (const [re, methods] of ROUTES) if (re.test(pathname)) return methods;
  const rest = restMethods(pathname);
  return rest.length > 0 ? rest : PAGES;
}
