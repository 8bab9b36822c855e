import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

/** `/swagger`: the interactive API reference, swagger-ui (swagger-ui-dist) over `/openapi.json`. */
export const SWAGGER_PATH_RE = /^\/swagger(?:\/([A-Za-z0-9.-]*))?$/;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Aether API</title>
<link rel="stylesheet" href="/swagger/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/swagger/swagger-ui-bundle.js"></script>
<script src="/swagger/init.js"></script>
</body>
</html>
`;

// A file, not an inline script, so the page runs under a strict Content-Security-Policy.
const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true, persistAuthorization: false });\n`;

/** The only files served from the package: nothing else under node_modules is reachable. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'";

const distDir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const cache = new Map<string, Promise<Buffer>>();

function send(res: ServerResponse, status: number, type: string, body: Buffer | string, cacheControl: string): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { 'content-type': type, 'content-length': bytes.length, 'cache-control': cacheControl, 'content-security-policy': CSP, 'x-content-type-options': 'nosniff' });
  res.end(bytes);
}

export async function serveSwagger(_req: IncomingMessage, res: ServerResponse, match: RegExpExecArray): Promise<void> {
  const file = match[1];
  if (!file) return send(res, 200, 'text/html; charset=utf-8', PAGE, 'no-store');
  if (file === 'init.js') return send(res, 200, 'text/javascript; charset=utf-8', INIT, 'no-store');
  const type = ASSETS[file];
  if (!type) return send(res, 404, 'application/json', JSON.stringify({ code: 'not_found', message: `no such file: /swagger/${file}` }), 'no-store');
  let body = cache.get(file);
  if (!body) {
    body = readFile(path.join(distDir, file));
    cache.set(file, body);
    body.catch(() => cache.delete(file));
  }
  send(res, 200, type, await body, 'public, max-age=3600');
}
