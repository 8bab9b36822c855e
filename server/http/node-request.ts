import type { IncomingMessage } from 'node:http';

/** The path of a request target, without its query; `//x` stays a path, not a host. */
export function pathnameOf(url: string | undefined): string {
  const target = url ?? '/';
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

/** A Node request's headers read as a web `Headers` is (`get`, a repeated header's first value). */
export function headersOf(req: IncomingMessage): Pick<Headers, 'get'> {
  return {
    get(name: string) {
      const value = req.headers[name.toLowerCase()];
      return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
    },
  };
}
