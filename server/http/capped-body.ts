import { AppError } from '../errors';
import { requestBody } from './request-body';

/**
 * The request again, its body limited to `maxBytes`: past that, reading it fails with
 * `payload_too_large` (mapped by `toError` for faces that throw their own error type). A
 * declared Content-Length over the cap fails at the first read, before any byte is taken;
 * a chunked body is counted as it arrives and never buffered past the cap. The unread rest is
 * drained (bounded) rather than cancelled, so the client still reads the 413.
 */
export function cappedRequest(req: Request, maxBytes: number, toError: (err: AppError) => unknown = (e) => e): Request {
  if (req.body === null) return req;
  const tooLarge = () => toError(new AppError('payload_too_large', `request body is larger than ${maxBytes} bytes`));
  const declared = Number(req.headers.get('content-length') ?? Number.NaN);
  const body = requestBody(req.body);
  const chunks = body.chunks();
  let seen = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (declared > maxBytes) return refuse(controller);
      const next = await chunks.next().catch((err: unknown) => ({ error: err }));
      if ('error' in next) return controller.error(next.error);
      if (next.done) return controller.close();
      seen += next.value.byteLength;
      if (seen > maxBytes) return refuse(controller);
      controller.enqueue(next.value);
    },
    cancel() {
      body.drain();
    },
  });
  function refuse(controller: ReadableStreamDefaultController<Uint8Array>): void {
    body.drain();
    controller.error(tooLarge());
  }
  // undici needs duplex: 'half' for a streamed request body.
  const init: RequestInit & { duplex: 'half' } = { method: req.method, headers: req.headers, body: stream, signal: req.signal, duplex: 'half' };
  return new Request(req.url, init);
}
