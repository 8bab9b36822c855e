import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEntry, RuntimeDriver } from '../../server/runtime/port';
import { tarGz } from '../support/artifacts';
import { startTestPlane, TOKENS, type TestPlane } from '../support/harness';
import { uploadArtifact } from '../support/upload';

const app = (version: string) =>
  tarGz({
    'package.json': JSON.stringify({ name: 'echo', scripts: { start: 'node index.js' } }),
    'index.js': [
      `console.log('echo ${version} up'); console.error('${version} warns on stderr');`,
      `require('http').createServer((q, s) => { console.log('${version} got ' + q.url); s.end('${version}'); }).listen(process.env.PORT, '127.0.0.1');`,
    ].join('\n'),
  });

/** Reads a streamed body line by line until `stop` says so, then cancels the request. */
async function readUntil(res: Response, stop: (line: string) => boolean, ac: AbortController, timeoutMs = 10_000): Promise<string[]> {
  const lines: string[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return lines;
      buf += decoder.decode(value, { stream: true });
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const l of parts) {
        lines.push(l);
        if (stop(l)) {
          ac.abort();
          return lines;
        }
      }
    }
  } catch (err) {
    if (ac.signal.aborted) return lines;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

describe('logs API: REST (text, NDJSON, follow) and the tRPC subscription over SSE', { timeout: 90_000 }, () => {
  let plane: TestPlane;
  let v1: { id: string; url: string | null };
  let v2: { id: string; url: string | null };
  /** Log reads the runtime has open right now: a read must end when its client goes away. */
  let openReads = 0;
  const get = (query: string, headers: Record<string, string> = {}, signal?: AbortSignal) =>
    fetch(`${plane.url}/apps/echo/logs${query}`, { headers: { authorization: `Bearer ${TOKENS.reader}`, ...headers }, signal });

  const deploy = async (version: string) => {
    const { completed, digest } = await uploadArtifact(plane, 'echo', app(version));
    expect(completed.status).toBe('stored');
    await plane.caller('reader').artifacts.wait({ app_name: 'echo', digest, timeout_ms: 15_000 });
    const { deployment } = await plane.caller('deployer').deployments.create({ app_name: 'echo', digest });
    const done = await plane.caller('reader').deployments.wait({ id: deployment.id, timeout_ms: 30_000 });
    expect(done.status).toBe('running');
    return done;
  };

  beforeAll(async () => {
    plane = await startTestPlane('postgres');
    // Counts open reads around the real driver (every call and entry passes through unchanged).
    const runtime = plane.services.runtime;
    const logs = runtime.logs.bind(runtime);
    const counted: RuntimeDriver['logs'] = (target, q) => {
      const inner = logs(target, q);
      return (async function* () {
        openReads++;
        try {
          yield* inner;
        } finally {
          openReads--;
        }
      })();
    };
    plane.services.runtime = { ...runtime, logs: counted };
    plane.startWorkers();
    await plane.caller('deployer').apps.create({ name: 'echo' });
    v1 = await deploy('v1');
    await fetch(`${v1.url}/first`);
  });
  afterAll(async () => plane?.close());

  it('answers text by default, NDJSON entries on Accept or format=ndjson', async () => {
    const text = await get('?tail=10');
    expect(text.status).toBe(200);
    expect(text.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(text.headers.get('x-aether-deployment-id')).toBe(v1.id);
    const body = await text.text();
    expect(body).toContain('echo v1 up\n');
    expect(body).toContain('v1 warns on stderr\n');

    for (const res of [await get('?tail=10', { accept: 'application/x-ndjson' }), await get('?tail=10&format=ndjson')]) {
      expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
      const entries = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as LogEntry);
      expect(entries).toEqual(
        expect.arrayContaining([
          { time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), source: 'app', line: 'echo v1 up', instance: '0' },
          { time: expect.any(String), source: 'app:stderr', line: 'v1 warns on stderr', instance: '0' },
          { time: expect.any(String), source: 'app', line: 'v1 got /first', instance: '0' },
        ]),
      );
    }
  });

  it('filters by instance; a bad instance is a 400 bad_request with the error envelope', async () => {
    const entries = (await (await get('?tail=10&format=ndjson&instance=0')).text()).trim().split('\n').map((l) => JSON.parse(l) as LogEntry);
    expect(entries.map((e) => e.line)).toContain('v1 got /first');
    expect(entries.every((e) => e.instance === '0')).toBe(true);
    // An instance with no output (never ran) has none.
    expect(await (await get('?tail=10&instance=7')).text()).toBe('');
    // Refused by the contract (not a name) and by the local runtime (not 0..999).
    for (const q of ['?instance=..%2F0', '?instance=Big', '?instance=', '?instance=01', '?instance=1000', '?instance=pod-a']) {
      const res = await get(q);
      expect(res.status, q).toBe(400);
      const body = (await res.json()) as { code: string; message: string };
      expect(body.code, q).toBe('bad_request');
      expect(body.message, q).toMatch(/instance/);
    }
  });

  it('filters with since (seconds, durations, RFC 3339) and container', async () => {
    expect(await (await get('?since=5m')).text()).toContain('v1 got /first');
    expect(await (await get('?since=300')).text()).toContain('v1 got /first');
    expect(await (await get(`?since=${new Date(Date.now() - 60_000).toISOString()}`)).text()).toContain('v1 got /first');
    // A time in the future: nothing yet.
    expect(await (await get(`?since=${new Date(Date.now() + 60_000).toISOString()}`)).text()).toBe('');
    expect(await (await get('?container=app&tail=1')).text()).toBe('v1 got /first\n');
    const cases: Array<[string, number, string]> = [
      ['?container=sidecar', 404, 'not_found'],
      ['?since=yesterday', 400, 'bad_request'],
      ['?since=-5', 400, 'bad_request'],
      ['?format=xml', 400, 'bad_request'],
      ['?tail=100000', 400, 'bad_request'],
      ['?deployment=00000000-0000-4000-8000-000000000000', 404, 'not_found'],
    ];
    for (const [q, status, code] of cases) {
      const res = await get(q);
      expect(res.status, q).toBe(status);
      expect(await res.json(), q).toMatchObject({ code });
    }
    const anonymous = await fetch(`${plane.url}/apps/echo/logs`);
    expect(anonymous.status).toBe(401);
  });

  it('follows: a line the app prints after the follow started arrives; the read ends when the client goes away', async () => {
    const ac = new AbortController();
    // Keep poking until the follower has it: it may not have reached the end of the file yet.
    // (Headers come with the first line: like Next, the test server flushes them with the body.)
    const poke = setInterval(() => void fetch(`${v1.url}/after-follow`).catch(() => {}), 300);
    const lines = await get('?tail=0&follow=1&format=ndjson', {}, ac.signal)
      .then((res) => {
        expect(res.status).toBe(200);
        return readUntil(res, (l) => l.includes('/after-follow'), ac);
      })
      .finally(() => clearInterval(poke));
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ source: 'app', line: 'v1 got /after-follow' });
    expect(lines.some((l) => l.includes('echo v1 up'))).toBe(false);
    const deadline = Date.now() + 5000;
    while (openReads > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(openReads).toBe(0);
  });

  it('streams over the tRPC subscription (SSE) as LogEntry values', async () => {
    const input = encodeURIComponent(JSON.stringify({ app_name: 'echo', tail: 5, follow: true }));
    const ac = new AbortController();
    const res = await fetch(`${plane.url}/api/trpc/deployments.logs?input=${input}`, {
      headers: { authorization: `Bearer ${TOKENS.reader}`, accept: 'text/event-stream' },
      signal: ac.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const poke = setInterval(() => void fetch(`${v1.url}/over-sse`).catch(() => {}), 300);
    const lines = await readUntil(res, (l) => l.includes('/over-sse'), ac).finally(() => clearInterval(poke));
    const entries = lines.filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as LogEntry).filter((e) => typeof e?.line === 'string');
    expect(entries.at(-1)).toMatchObject({ source: 'app', line: 'v1 got /over-sse', time: expect.any(String) });
    const deadline = Date.now() + 5000;
    while (openReads > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(openReads).toBe(0);

    const refused = await fetch(`${plane.url}/api/trpc/deployments.logs?input=${input}`, { headers: { accept: 'text/event-stream' } });
    const text = await refused.text();
    expect(text).toContain('unauthorized');
  });

  it("reads a replaced deployment's history, and following it ends instead of hanging", async () => {
    v2 = await deploy('v2');
    expect(await (await fetch(v2.url!)).text()).toBe('v2');
    const current = await get('?tail=50');
    expect(current.headers.get('x-aether-deployment-id')).toBe(v2.id);
    expect(await current.text()).toContain('echo v2 up');
    const old = await get(`?deployment=${v1.id}&tail=100&follow=true`);
    expect(old.headers.get('x-aether-deployment-id')).toBe(v1.id);
    const body = await old.text(); // ends: v1 is superseded and will never print again
    expect(body).toContain('echo v1 up');
    expect(body).toContain('v1 got /after-follow');
    expect(body).not.toContain('v2');
  });
});
