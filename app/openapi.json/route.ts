import { getServices } from '../../server/boot';
import { buildOpenApiDocument } from '../../server/rest/openapi';

export const dynamic = 'force-dynamic';

export async function GET() {
  const { env } = await getServices();
  return Response.json(buildOpenApiDocument(env.AETHER_PUBLIC_URL));
}
