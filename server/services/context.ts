import type { Db } from '../../db/client';
import type { Actor } from '../auth/roles';
import type { StaticToken } from '../auth/tokens';
import type { Env } from '../env';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { Notifier } from '../queues/notifier';
import type { Queues } from '../queues/producers';
import type { RuntimeDriver } from '../runtime/port';
import type { SecretBox } from '../secrets/secret-box';
import type { StorageDriver } from '../storage/port';

/** Everything a domain service may use. Built once per process (see ../boot.ts). */
export interface Services {
  env: Env;
  db: Db;
  dbKind: 'postgres' | 'pglite';
  storage: StorageDriver;
  queues: Queues;
  /** Wakes long-polls when an artifact or deployment changes (Redis pub/sub). */
  notifier: Notifier;
  runtime: RuntimeDriver;
  log: Logger;
  metrics: Metrics;
  staticTokens: StaticToken[];
  /** Seals and opens config secrets (AES-256-GCM under AETHER_SECRETS_KEY). */
  secrets: SecretBox;
  /** Local runtime: the router apps answer behind; it listens only in the process running the workers. */
  router?: AppRouter;
}

export interface AppRouter {
  /** The app's stable URL, `http://<app>.<domain>:<port>`. */
  url(appName: string): string;
  deploymentUrl(appName: string, deploymentId: string): string;
  /** Starts listening (once; later calls share the first). */
  listen(): Promise<{ port: number }>;
  close(): Promise<void>;
}

/**
 * What a mutation adds to its audit record (server/services/audit): the edge writes one record
 * per mutation with the actor, the outcome and this. Names, ids and counts only, never values.
 */
export interface AuditNote {
  team?: string | null;
  target?: string | null;
  detail?: Record<string, unknown>;
}

/** A service call: the process's services plus who is asking. */
export interface ServiceCtx extends Services {
  actor: Actor;
  /** The request's id (X-Request-Id), when it came over HTTP. */
  requestId?: string;
  /** Filled by services during a mutation; see {@link AuditNote}. */
  audit?: AuditNote;
}
