import type { Db } from '../../db/client';
import type { Actor } from '../auth/roles';
import type { StaticToken } from '../auth/tokens';
import type { Env } from '../env';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { Notifier } from '../queues/notifier';
import type { Queues } from '../queues/producers';
import type { RuntimeDriver } from '../runtime/port';
import type { StorageDriver } from '../storage/port';

/** Everything a domain service may use. Built once per process (see ../boot.ts). */
export interface Services {
  env: Env;
  db: Db;
  dbKind: 'postgres' | 'pglite';
  storage: StorageDriver;
  /** Serves the storage driver's own signed URLs (fs driver); null when the store serves them. */
  storageHttp: ((req: Request) => Promise<Response>) | null;
  queues: Queues;
  /** Wakes long-polls when an artifact or deployment changes (Redis pub/sub). */
  notifier: Notifier;
  runtime: RuntimeDriver;
  log: Logger;
  metrics: Metrics;
  staticTokens: StaticToken[];
}

/** A service call: the process's services plus who is asking. */
export interface ServiceCtx extends Services {
  actor: Actor;
}
