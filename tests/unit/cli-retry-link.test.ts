import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { apiError, createApi } from '../../cli/client';

/**
 * The client's retry link over real HTTP, against a small server speaking tRPC's wire format:
 * what it retries, how it paces by Retry-After, and when a refused connection is waited out.
 */
type Answer = { status: number; body: unknown; headers?: Record<string, string> };
const ok = (data: unknown): Answer => ({ status: 200, body: { result: { data } } });
const down: Answer = {
  status: 503,
  headers: { 'retry-after': '1' },
  body: {
    error: {
      message: 'the database is unavailable; retry shortly',
      code: -32603,
      data: { code: 'service_unavailable', httpStatus: 503 },
    },
  },
};

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => (s.closeAllConnections(), s.close(r)))));
});

async function serve(answers: Answer[], port = 0): Promise<{ url: string; port: number; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${new URL(req.url ?? '/', 'http://x').pathname}`);
    const a = answers.length > 1 ? answers.shift()! : answers[0]!;
    res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers }).end(JSON.stringify(a.body));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const p = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${p}`, port: p, hits };
}

const api = (apiBase: string, maxWaitMs: number, lines: string[]) =>
  createApi({ apiBase, token: 't', retry: { maxWaitMs, say: (l) => lines.push(l) } });

describe('the CLI retry link', () => {
  it('retries a query on 503, no sooner than Retry-After, saying so once per wait', async () => {
    const s = await serve([down, down, ok([{ name: 'a' }])]);
    const lines: string[] = [];
    const started = performance.now();
    expect(await api(s.url, 10_000, lines).apps.list.query()).toEqual([{ name: 'a' }]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(2_000);
    expect(lines).toEqual([
      'control plane unavailable (the database is unavailable; retry shortly): retrying in 1s (attempt 2)',
      'control plane unavailable (the database is unavailable; retry shortly): retrying in 1s (attempt 3)',
    ]);
    expect(s.hits).toHaveLength(3);
  });

  it('sends a mutation that is not idempotent once; retries one that is', async () => {
    const s = await serve([down]);
    const lines: string[] = [];
    const err = await api(s.url, 10_000, lines)
      .config.change.mutate({ app_name: 'a', set: { A: '1' } })
      .catch((e: unknown) => e);
    expect(apiError(err, 'changing config')).toMatchObject({
      exitCode: 40,
      code: 'service_unavailable',
      message: 'changing config: the database is unavailable; retry shortly (service_unavailable)',
    });
    expect(s.hits).toEqual(['POST /api/trpc/config.change']);
    expect(lines).toEqual([]);

    const again = await serve([down, ok({ deployment: { id: 'd' }, created: true })]);
    await expect(
      api(again.url, 10_000, lines).deployments.create.mutate({ app_name: 'a', digest: 'a'.repeat(64) }),
    ).resolves.toMatchObject({ created: true });
    expect(again.hits).toHaveLength(2);
  });

  it('waits out a refused connection only once the control plane was reached; a first refusal fails at once', async () => {
    const lines: string[] = [];
    const first = await serve([ok([])]);
    const client = api(first.url, 10_000, lines);
    await client.apps.list.query();
    await new Promise((r) => servers.pop()!.close(r));
    // Back on the same port after a second, as a restarting control plane.
    const back = new Promise((r) => setTimeout(r, 1_000)).then(() => serve([ok([{ name: 'b' }])], first.port));
    expect(await client.apps.list.query()).toEqual([{ name: 'b' }]);
    await back;
    // The kept-alive socket hangs up first (ECONNRESET); new connections are refused until it is back.
    expect(lines.length).toBeGreaterThanOrEqual(1);
    for (const l of lines)
      expect(l).toMatch(
        /^cannot reach the control plane \((socket hang up|connect ECONNREFUSED [\d.:]+)\): retrying in/,
      );

    const started = performance.now();
    const err = await api(first.url.replace(/:\d+$/, ':9'), 10_000, [])
      .apps.list.query()
      .catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(apiError(err, 'listing apps')).toMatchObject({
      exitCode: 40,
      message: expect.stringContaining('cannot reach the control plane'),
    });
  });
});
