import { AppError } from '../errors';

/** After an answer given before the body ended: what is still read, and thrown away... */
export const DRAIN_MAX_BYTES = 16 * 1024 * 1024;
/** ...and for how long, before the rest is refused by cutting the connection. */
export const DRAIN_MAX_MS = 10_000;

/** A streamed request body that can be abandoned part-way without breaking the answer. */
export interface RequestBody {
  /** The body's chunks, read as they arrive. Stopping early leaves the rest unread. */
  chunks(): AsyncGenerator<Uint8Array>;
  /** Reads and discards what the client still sends (bounded), in the background; never throws. */
  drain(): void;
}

/**
 * Wraps `req.body` for handlers that may answer before the body ends (a duplicate, a limit
 * crossed mid-stream). Cancelling the body there would tear down the socket before the answer
 * is written, and an HTTP/1.1 client still sending then sees EPIPE instead of the answer
 * (measured with fetch). So an early stop leaves the body alone; `drain()` then lets the
 * client finish a modest remainder and keep its connection, and cuts off anything bigger.
 */
export function requestBody(body: ReadableStream<Uint8Array> | null): RequestBody {
  const reader = body?.getReader() ?? null;
  let ended = reader === null;

  async function* chunks(): AsyncGenerator<Uint8Array> {
    if (!reader) return;
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch {
        // The client went away (or the transport broke): its fault, not a 500.
        ended = true;
        throw new AppError('bad_request', 'upload body ended early');
      }
      if (next.done) {
        ended = true;
        return;
      }
      yield next.value;
    }
  }

  function drain(): void {
    if (ended || !reader) return;
    ended = true;
    const cut = () => reader.cancel().catch(() => undefined);
    // cancel() also ends a read() that is waiting on a silent client.
    const timer = setTimeout(cut, DRAIN_MAX_MS);
    timer.unref();
    void (async () => {
      let discarded = 0;
      try {
        for (;;) {
          const next = await reader.read();
          if (next.done) return;
          discarded += next.value.byteLength;
          if (discarded > DRAIN_MAX_BYTES) return void (await cut());
        }
      } catch {
        // The client hung up first: nothing left to drain.
      } finally {
        clearTimeout(timer);
      }
    })();
  }

  return { chunks, drain };
}
