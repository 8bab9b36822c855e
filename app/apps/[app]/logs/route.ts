import { getServices } from '../../../../server/boot';
import { handleLogsRequest } from '../../../../server/rest/logs';
import { refuseOtherMethods } from '../../../../server/http/method-not-allowed';

export const dynamic = 'force-dynamic';

/** `GET /apps/{app}/logs`: see server/rest/logs.ts. */
export async function GET(req: Request, { params }: { params: Promise<{ app: string }> }) {
  return handleLogsRequest(await getServices(), req, (await params).app);
}

const notAllowed = refuseOtherMethods(['GET', 'HEAD']);
export { notAllowed as POST, notAllowed as PUT, notAllowed as PATCH, notAllowed as DELETE };
