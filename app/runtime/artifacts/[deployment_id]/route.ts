import { getServices } from '../../../../server/boot';
import { serveRuntimeArtifact } from '../../../../server/services/deployments/artifact-fetch.service';
import { refuseOtherMethods } from '../../../../server/http/method-not-allowed';

export const dynamic = 'force-dynamic';

/** The Kubernetes init container's artifact fetch: see server/services/deployments/artifact-fetch.service.ts. */
export async function GET(req: Request, { params }: { params: Promise<{ deployment_id: string }> }) {
  return serveRuntimeArtifact(await getServices(), req, (await params).deployment_id);
}

const notAllowed = refuseOtherMethods(['GET', 'HEAD']);
export { notAllowed as POST, notAllowed as PUT, notAllowed as PATCH, notAllowed as DELETE };
