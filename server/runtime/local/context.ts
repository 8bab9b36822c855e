import type { ArtifactSource } from '../port';
import type { AppSupervisor, SuperviseContext } from './supervisor';

/** What the local driver's parts share: supervision, storage, the router's table and address. */
export interface RolloutContext extends SuperviseContext {
  source: ArtifactSource;
  /** How many deployments per app keep their logs. */
  logKeepPerApp: number;
  /** The app's supervisor, by app name: what this process keeps running. */
  supervisors: Map<string, AppSupervisor>;
  /** How long an instance taken out of the router may finish its requests before it is stopped. */
  drainMs: number;
  /** The app's stable address at the router; absent without a router (the first instance's then). */
  routerUrl?: (appName: string) => string | undefined;
}

