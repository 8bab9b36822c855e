import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** A download that failed for good (after retries), with a message safe to show. */
export class FetchFailed extends Error {}

const ATTEMPTS = 4;
const MAX_REDIRECTS = 3;

/**
 * GETs the artifact with the fetch token into `file`, hashing on the way. Follows the control
 * plane's redirect to storage by hand, so the token is never sent anywhere but the control
 * plane. Network errors, 5xx and 429 are retried with back-off (a control plane restarting
 * while a pod starts); other statuses fail at once.
 */
export async function download(url: string, token: string, file: string, timeoutMs: number): Promise<{ sha256: string; bytes: number }> {
  let lastError = '';
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      return await downloadOnce(url, token, file, timeoutMs);
    } catch (err) {
      if (err instanceof FetchFailed) throw err;
      lastError = (err as Error).message;
      if (attempt < ATTEMPTS) await sleep(250 * 2 ** attempt);
    }
  }
  throw new FetchFailed(`${ATTEMPTS} attempts failed, last: ${lastError}`);
}

/** Retryable failures throw a plain Error; final ones FetchFailed. */
async function downloadOnce(url: string, token: string, file: string, timeoutMs: number): Promise<{ sha256: string; bytes: number }> {
  const signal = AbortSignal.timeout(timeoutMs);
  let target = url;
  let headers: Record<string, string> = { authorization: `Bearer ${token}` };
  for (let hop = 0; ; hop++) {
    const res = await fetch(target, { headers, redirect: 'manual', signal }).catch((err: unknown) => {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      throw new Error(`GET ${redact(target)}: ${cause ?? (err as Error).message}`);
    });
    if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
      await res.body?.cancel();
      if (hop >= MAX_REDIRECTS) throw new FetchFailed(`too many redirects from ${redact(url)}`);
      target = new URL(res.headers.get('location') as string, target).toString();
      // The presigned URL authorises itself; the token stays with the control plane.
      headers = {};
      continue;
    }
    if (res.status !== 200 || !res.body) {
      const detail = errorDetail(await res.text().catch(() => ''));
      const message = `GET ${redact(target)} answered HTTP ${res.status}${detail ? `: ${detail}` : ''}`;
      if (res.status >= 500 || res.status === 429) throw new Error(message);
      throw new FetchFailed(message);
    }
    const hash = createHash('sha256');
    let bytes = 0;
    await pipeline(
      Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>),
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          hash.update(chunk);
          bytes += chunk.length;
          yield chunk;
        }
      },
      createWriteStream(file, { mode: 0o600 }),
    );
    return { sha256: hash.digest('hex'), bytes };
  }
}

/** A URL without its query, which for a presigned URL is the credential. */
function redact(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}${u.search ? '?...' : ''}`;
}

/**
 * What an error body may say in a deployment event, which every reader sees: our envelope's
 * code and message, or S3's <Code> alone (its XML can carry the access key id and more).
 */
function errorDetail(body: string): string {
  try {
    const { code, message } = JSON.parse(body) as { code?: unknown; message?: unknown };
    if (typeof code === 'string') return `${code}${typeof message === 'string' ? `: ${message.slice(0, 200)}` : ''}`;
  } catch {
    // not the control plane's JSON
  }
  return /<Code>([A-Za-z0-9.]{1,64})<\/Code>/.exec(body)?.[1] ?? '';
}
