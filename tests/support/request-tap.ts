import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the tap forwarded, with the status the upstream answered (0: no answer). */
export interface TapRecord {
  method: string;
  path: string;
  status: number;
}

/**
 * An HTTP hop in front of the control plane (give its `url` to the CLI as AETHER_API_BASE, and
 * to the plane as AETHER_PUBLIC_URL so fs-store URLs come through it too). It records every
 * answer, so a test can say what the client saw, and runs a fault at an exact point of a flow:
 * `before(match, act)` runs `act` when the first matching request arrives, before it is
 * forwarded. It never answers itself: a request whose upstream is gone has its socket reset.
 */
export interface RequestTap {
  url: string;
  /** Where requests go (the plane's own URL); settable once the plane is up. */
  target: string;
  records: TapRecord[];
  /** Resolves once `act` ran for a request matching `match`. */
  before(match: (req: { method: string; path: string }) => boolean, act: () => void | Promise<void>): Promise<void>;
  close(): Promise<void>;
}

export async function startRequestTap(): Promise<RequestTap> {
  const hooks: Array<{
    match: (r: { method: string; path: string }) => boolean;
    act: () => void | Promise<void>;
    done: () => void;
  }> = [];
  const tap: RequestTap = {
    url: '',
    target: '',
    records: [],
    before: (match, act) => new Promise<void>((done) => hooks.push({ match, act, done })),
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };

  const forward = (req: IncomingMessage, record: TapRecord, res: ServerResponse) => {
    const target = new URL(tap.target);
    const out = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        record.status = answer.statusCode ?? 0;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        // An upstream that dies mid-answer must not leave the client waiting for the rest.
        answer.once('error', () => res.socket?.resetAndDestroy());
        answer.pipe(res);
      },
    );
    out.once('error', () => res.socket?.resetAndDestroy());
    req.pipe(out);
  };

  const server = createServer((req, res) => {
    const record: TapRecord = { method: req.method ?? '', path: (req.url ?? '').split('?')[0]!, status: 0 };
    tap.records.push(record);
    const i = hooks.findIndex((h) => h.match(record));
    if (i < 0) return forward(req, record, res);
    const [hook] = hooks.splice(i, 1);
    // Hold the body until the fault is in place: nothing reaches the plane before it.
    req.pause();
    void Promise.resolve(hook!.act()).then(() => {
      hook!.done();
      forward(req, record, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  tap.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return tap;
}

/**
 * Answers other than 2xx-4xx and 503: what a client must never see during a fault. Requests
 * that got no answer (status 0: cut by the client, or by a plane that died) are not counted.
 */
export const unexpectedAnswers = (records: TapRecord[]): TapRecord[] =>
  records.filter((r) => r.status !== 0 && !((r.status >= 200 && r.status < 500) || r.status === 503));
