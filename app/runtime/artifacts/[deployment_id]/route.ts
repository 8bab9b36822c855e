import { getServices } from '../../../../server/boot';
import { serveRuntimeArtifact } from '../../../../server/services/deployments/artifact-fetch.service';

export const dynamic = 'force-dynamic';

/** The Kubernetes init container's artifact fetch: see server/services/deployments/artifact-fetch.service.ts. */
export async function GET(req: Request, { params }: { params: Promise<{ deployment_id: string }> }) {
  return serveRuntimeArtifact(await getServices(), req, (await params).deployment_id);
}
