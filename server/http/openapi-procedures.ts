import { createOpenApiNodeHttpHandler } from 'trpc-to-openapi';
import type { TrpcContext } from '../trpc/init';
import type { AppRouter } from '../trpc/root';

type ResponseMeta = (opts: { paths?: string[]; errors: unknown[] }) => { status?: number };

/** One REST call as the procedures' handler needs it, whichever face it came in on. */
export interface RestCall {
  method: string;
  /** The request target: path and query. */
  url: string;
  headers: Pick<Headers, 'get'>;
  /** The JSON object in the body, already read and checked (`readJsonBody`); undefined for none. */
  body: Record<string, unknown> | undefined;
}

/** The adapter's answer: JSON text, with the status and headers it chose. */
export interface RestAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface RestHandlerOptions {
  router: AppRouter;
  createContext: (call: Pick<RestCall, 'headers'>) => Promise<TrpcContext>;
  responseMeta: ResponseMeta;
}

/**
 * trpc-to-openapi's REST handler, its procedure table built once (`createOpenApiFetchHandler`
 * builds it on every call, and outside production the whole OpenAPI document too).
 *
 * The adapter is handed the call dressed as a web Request (see {@link adapterRequest}).
 */
export function createRestProcedureHandler(opts: RestHandlerOptions): (call: RestCall) => Promise<RestAnswer> {
  const handler = createOpenApiNodeHttpHandler({
    router: opts.router,
    createContext: ({ req }: { req: Pick<RestCall, 'headers'> }) => opts.createContext(req),
    responseMeta: opts.responseMeta,
  } as never) as unknown as (req: Request, res: AnswerSink) => Promise<void>;

  return async (call) => {
    const sink = new AnswerSink();
    await handler(adapterRequest(call), sink);
    return { status: sink.statusCode, headers: sink.headers, body: sink.body };
  };
}

/** The adapter files the signal in `info`, which no procedure here reads: one that never aborts. */
const NO_SIGNAL = new AbortController().signal;

/**
 * The call as the adapter reads a request. For a web Request it takes `signal` and `body` as
 * they are, where a Node IncomingMessage would be copied into a whole new Request (headers, URL,
 * body stream) on every call just for its abort signal. It reads nothing else but `method`,
 * `url`, `headers.get` and `query` (which it sets itself): the Request getters, which would
 * throw on this object, are never called (tests/unit/openapi-procedures.test.ts holds the
 * pinned trpc-to-openapi to that).
 */
function adapterRequest(call: RestCall): Request {
  // The body is checked JSON (or none, for GET and DELETE, whose input the adapter takes from the query).
  const headers =
    call.body === undefined
      ? call.headers
      : {
          get: (name: string) => (name.toLowerCase() === 'content-type' ? 'application/json' : call.headers.get(name)),
        };
  return Object.create(Request.prototype, {
    method: { value: call.method },
    url: { value: call.url },
    headers: { value: headers },
    body: { value: call.body, writable: true },
    signal: { value: NO_SIGNAL },
  }) as Request;
}

/** The slice of a node ServerResponse the adapter writes to: it sets a status and headers, then ends with JSON text. */
class AnswerSink {
  statusCode = 200;
  readonly headers: Record<string, string> = {};
  body = '';

  setHeader(name: string, value: string | readonly string[]): void {
    this.headers[name.toLowerCase()] = typeof value === 'string' ? value : value.join(', ');
  }

  end(body?: string): void {
    this.body = body ?? '';
  }
}
