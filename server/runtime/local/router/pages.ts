/** The router's own small answers: nothing at this host (404), nothing running (502), crash loop (503). */

export interface Page {
  status: number;
  contentType: string;
  body: Buffer;
  /** Extra headers as a flat [name, value, ...] list. */
  headers: string[];
}

const HTML = 'text/html; charset=utf-8';

export const NOT_FOUND_PAGE: Page = {
  status: 404,
  contentType: 'text/plain; charset=utf-8',
  body: Buffer.from('No app is served at this address.\n'),
  headers: [],
};

export const BAD_HOST_PAGE: Page = {
  status: 400,
  contentType: 'text/plain; charset=utf-8',
  body: Buffer.from('A request must name one host.\n'),
  headers: [],
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function html(title: string, message: string): Buffer {
  return Buffer.from(`<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><p>${message}</p></body></html>\n`);
}

export function noInstancePage(appName: string): Page {
  const app = escapeHtml(appName);
  return { status: 502, contentType: HTML, body: html('502 Bad Gateway', `Nothing is running for the app <code>${app}</code> right now.`), headers: [] };
}

export function crashLoopPage(appName: string): Page {
  const app = escapeHtml(appName);
  return {
    status: 503,
    contentType: HTML,
    body: html('503 Service Unavailable', `The app <code>${app}</code> keeps crashing and is being restarted.`),
    headers: ['Retry-After', '5'],
  };
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 502: 'Bad Gateway', 503: 'Service Unavailable' };

/** The same page as raw HTTP/1.1 bytes, for a socket taken over by an upgrade request. */
export function rawPage(page: Page, requestId: string): string {
  const reason = REASONS[page.status] ?? 'Error';
  let head = `HTTP/1.1 ${page.status} ${reason}\r\nContent-Type: ${page.contentType}\r\nContent-Length: ${page.body.length}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n`;
  for (let i = 0; i < page.headers.length; i += 2) head += `${page.headers[i]}: ${page.headers[i + 1]}\r\n`;
  return `${head}\r\n${page.body.toString()}`;
}
