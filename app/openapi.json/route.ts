import { getServices } from '../../server/boot';
import { buildOpenApiDocument } from '../../server/rest/openapi';
import { refuseOtherMethods } from '../../server/http/method-not-allowed';

export const dynamic = 'force-dynamic';

export async function GET() {
  const { env } = await getServices();
  return Response.json(buildOpenApiDocument(env.AETHER_PUBLIC_URL));
}

const notAllowed = refuseOtherMethods(['GET', 'HEAD']);
export { notAllowed as POST, notAllowed as PUT, notAllowed as PATCH, notAllowed as DELETE };
