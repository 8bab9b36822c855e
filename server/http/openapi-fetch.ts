import { createOpenApiNodeHttpHandler } from 'trpc-to-openapi';
import type { TrpcContext } from '../trpc/init';
import type { AppRouter } from '../trpc/root';

type ResponseMeta = (opts: { paths?: string[]; errors: unknown[] }) => { status?: number };

interface RestHandlerOptions {
  router: AppRouter;
  createContext: (req: Request) => Promise<TrpcContext>;
  responseMeta: ResponseMeta;
}

/**
 * trpc-to-openapi's REST handler over a web Request, its procedure table built once.
 * (`createOpenApiFetchHandler` builds the table on every call, and outside production the whole
 * OpenAPI document too, before it looks at the request.) The body must already be JSON text, as
 * `jsonRequest` leaves it: it is parsed once here and handed over as the adapter expects.
 */
export function createRestProcedureHandler(opts: RestHandlerOptions): (req: Request) => Promise<Response> {
  const handler = createOpenApiNodeHttpHandler({
    router: opts.router,
    createContext: ({ req }: { req: Request }) => opts.createContext(req),
    responseMeta: opts.responseMeta,
  } as never) as unknown as (req: Request, res: ResponseSink) => Promise<void>;

  return async (req) => {
    const body: unknown = req.body === null ? undefined : JSON.parse(await req.text());
    // The adapter reads `body` off the request (parsed) and the rest from the Request itself.
    const withBody = new Proxy(req, { get: (target, prop) => (prop === 'body' ? body : Reflect.get(target, prop, target)) });
    const sink = new ResponseSink();
    await handler(withBody, sink);
    return sink.response();
  };
}

/** The slice of a node ServerResponse the adapter writes to, collected into a Response. */
class ResponseSink {
  statusCode = 200;
  private readonly headers = new Headers();
  private body: string | undefined;

  setHeader(name: string, value: string | readonly string[]): void {
    if (typeof value === 'string') this.headers.set(name, value);
    else for (const v of value) this.headers.append(name, v);
  }

  end(body?: string): void {
    this.body = body;
  }

  response(): Response {
    return new Response(this.body ?? null, { status: this.statusCode, headers: this.headers });
  }
}
