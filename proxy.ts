import { NextResponse, type NextRequest } from 'next/server';
import { isSameOriginRequest } from './server/auth/same-origin';
import { loadEnv } from './server/env';

let publicUrl: string | undefined;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses server actions (and any other writes to the portal's pages) that do not come from the
 * portal itself, before Next decodes them: Next lets a request without Origin through and
 * answers a foreign one with a 500. Every action also checks again itself (app/_lib).
 */
export function proxy(req: NextRequest): Response {
  const isAction = req.headers.has('next-action');
  if (!isAction && SAFE_METHODS.has(req.method)) return NextResponse.next();
  publicUrl ??= loadEnv().AETHER_PUBLIC_URL;
  if (isSameOriginRequest(req.headers, publicUrl)) return NextResponse.next();
  return Response.json(
    { code: 'forbidden', message: 'cross-origin request refused: portal actions must come from the portal' },
    { status: 403 },
  );
}

export const config = {
  matcher: [
    // The portal's pages, where a POST is a server action, with or without JavaScript.
    '/',
    '/console/:path*',
    '/login/:path*',
    // A fetch-style server action names itself in this header, whatever the path.
    { source: '/:path*', has: [{ type: 'header', key: 'next-action' }] },
  ],
};
