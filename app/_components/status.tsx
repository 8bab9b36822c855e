/**
 * One badge per kind of state, never merged: a deployment's status, an artifact's status and
 * whether something serves are separate facts and get separate indicators.
 */
type Tone = 'ok' | 'bad' | 'busy' | 'idle';

export function Badge({ tone, children, title }: { tone: Tone; children: React.ReactNode; title?: string }) {
  return (
    <span className={`badge badge-${tone}`} title={title}>
      {children}
    </span>
  );
}

const DEPLOYMENT: Record<string, [Tone, string]> = {
  pending: ['busy', 'queued'],
  rolling_out: ['busy', 'rolling out'],
  running: ['ok', 'running'],
  failed: ['bad', 'failed'],
  superseded: ['idle', 'replaced'],
  rolled_back: ['idle', 'rolled back'],
};

export function DeploymentStatus({ status }: { status: string }) {
  const [tone, label] = DEPLOYMENT[status] ?? ['idle', status];
  return <Badge tone={tone} title={`deployment status: ${status}`}>{label}</Badge>;
}

const ARTIFACT: Record<string, [Tone, string]> = {
  pending: ['busy', 'uploading'],
  verifying: ['busy', 'verifying'],
  stored: ['ok', 'stored'],
  failed: ['bad', 'failed'],
  deleted: ['idle', 'deleted'],
};

export function ArtifactStatus({ status }: { status: string }) {
  const [tone, label] = ARTIFACT[status] ?? ['idle', status];
  return <Badge tone={tone} title={`artifact status: ${status}`}>{label}</Badge>;
}

/** Whether the app serves traffic now: a fact separate from how its last deploy went. */
export function Serving({ url }: { url: string | null | undefined }) {
  return url === undefined || url === null ? <Badge tone="idle">not serving</Badge> : <Badge tone="ok">serving</Badge>;
}

const HEALTH: Record<string, [Tone, string]> = {
  healthy: ['ok', 'healthy'],
  degraded: ['busy', 'degraded'],
  restarting: ['busy', 'restarting'],
  crash_loop: ['bad', 'crash loop'],
  stopped: ['idle', 'stopped'],
};

/** How the app's instances are doing now: apart from its deployment's status, which says how the rollout went. */
export function AppHealth({ health, message }: { health: string | null; message?: string | null }) {
  if (health === null) return <Badge tone="idle" title="health: not reported yet">no health yet</Badge>;
  const [tone, label] = HEALTH[health] ?? ['idle', health];
  return <Badge tone={tone} title={`health: ${health}${message ? ` (${message})` : ''}`}>{label}</Badge>;
}
