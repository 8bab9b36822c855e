import { refuseOtherMethods } from '../../server/http/method-not-allowed';

export const dynamic = 'force-dynamic';

/** Liveness: the process answers. Dependencies are /readyz's business. */
export function GET() {
  return Response.json({ status: 'ok' });
}

const notAllowed = refuseOtherMethods(['GET', 'HEAD']);
export { notAllowed as POST, notAllowed as PUT, notAllowed as PATCH, notAllowed as DELETE };
