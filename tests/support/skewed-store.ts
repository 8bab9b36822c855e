import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { createFsStorage } from '../../server/storage/fs.driver';

/**
 * A process serving one fs store's signed URLs, started by a test with a clock of its own (see
 * clock-offset.mjs). Store root, HMAC key (hex) and optional skew come from the environment; it
 * prints `listening <url>` once it takes requests.
 */
const { SKEWED_STORE_ROOT, SKEWED_STORE_SECRET, SKEWED_STORE_SKEW_SECS } = process.env;
if (!SKEWED_STORE_ROOT || !SKEWED_STORE_SECRET)
  throw new Error('SKEWED_STORE_ROOT and SKEWED_STORE_SECRET are required');

// Only checks URLs, never signs one: the base URL's host does not matter, its `/` path does.
const storage = createFsStorage({
  rootDir: SKEWED_STORE_ROOT,
  baseUrl: 'http://127.0.0.1',
  secret: Buffer.from(SKEWED_STORE_SECRET, 'hex'),
  ...(SKEWED_STORE_SKEW_SECS !== undefined && { clockSkewSecs: Number(SKEWED_STORE_SKEW_SECS) }),
});

const server = createServer(async (req, res) => {
  const body = req.method === 'PUT' ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : undefined;
  const init = { method: req.method, headers: req.headers as HeadersInit, body, duplex: 'half' } as RequestInit;
  const answer = await storage.handleRequest(new Request(`http://${req.headers.host}${req.url}`, init));
  res.writeHead(answer.status, Object.fromEntries(answer.headers));
  res.end(Buffer.from(await answer.arrayBuffer()));
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  console.log(`listening http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
});
