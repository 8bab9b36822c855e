export const dynamic = 'force-dynamic';

/** Liveness: the process answers. Dependencies are /readyz's business. */
export function GET() {
  return Response.json({ status: 'ok' });
}
