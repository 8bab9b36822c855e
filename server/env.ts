import path from 'node:path';
import { z } from 'zod';
import { decodeSecretsKey } from './secrets/secret-box';

const bool = z
  .string()
  .optional()
  .transform((v) => (v === undefined ? undefined : /^(1|true|yes|on)$/i.test(v.trim())));

// Kubernetes names and resource quantities, checked here so a typo fails at boot, not mid-rollout.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A DNS name: such labels joined by dots, 253 characters in all. */
const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/;

// Compose passes an unset optional variable as an empty string: that means unset.
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v?.trim() ? v.trim() : undefined));

// The message describes the key, never quotes it.
/** `<low>-<high>` with `min <= low <= high <= max` (uid and port ranges). */
const numberRange = (fallback: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+-\d+$/)
    .default(fallback)
    .refine(
      (v) => {
        const [lo, hi] = v.split('-').map(Number) as [number, number];
        return lo >= min && lo <= hi && hi <= max;
      },
      `want <low>-<high>, ${min} <= low <= high${max < Number.MAX_SAFE_INTEGER ? ` <= ${max}` : ''}`,
    );

const secretsKey = optionalText.superRefine((v, ctx) => {
  if (v === undefined) return;
  try {
    decodeSecretsKey(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const ZEnv = z
  .object({
    PORT: z.coerce.number().int().min(1).max(65535).default(3000),
    /** How clients (CLI, browsers, presigned URLs) reach this control plane. */
    AETHER_PUBLIC_URL: z.url().optional(),
    AETHER_DATA_DIR: z.string().min(1).default('.aether'),
    DATABASE_URL: z.string().min(1).optional(),
    /**
     * PostgreSQL connections per process. Past a few per core, more only queue inside the server:
     * 10 keeps 2 to 4 cores busy; raise it with the database's cores, within its max_connections.
     */
    AETHER_DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
    /**
     * Named prepared statements: parsed and planned once per connection. Turn off behind a
     * pooler in transaction mode that cannot keep them (PgBouncer before 1.21, or with
     * max_prepared_statements = 0).
     */
    AETHER_DB_PREPARE: bool.default(true),
    /** A connection to PostgreSQL that takes longer fails its query (a 503): an unreachable database is answered fast. */
    AETHER_DB_CONNECT_TIMEOUT_SECS: z.coerce.number().int().min(1).max(120).default(5),
    /** PostgreSQL cancels a statement that runs longer (0: never); the request answers 503. */
    AETHER_DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).default(30_000),
    /** A Redis command of the control plane (enqueue, publish) that gets no answer for this long fails (a 503). */
    AETHER_REDIS_COMMAND_TIMEOUT_MS: z.coerce.number().int().min(100).default(5000),
    REDIS_URL: z.string().min(1).default('redis://127.0.0.1:6379'),
    AETHER_QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default('aether'),
    /** CSV of `token:role[:name]`; roles admin, deployer, reader. */
    AETHER_API_TOKENS: z.string().optional(),
    /** A single admin token (the seed's fallback). */
    AETHER_API_TOKEN: z.string().min(1).optional(),
    /** `fs` (embedded, files under the data dir; `mock` is its seed alias) or `s3`. */
    AETHER_STORAGE_MODE: z.enum(['fs', 'mock', 's3']).default('fs'),
    AETHER_ARTIFACT_BUCKET: z.string().min(3).default('artifacts'),
    /** Custom S3 endpoint (MinIO...): switches to path-style addressing. */
    AETHER_S3_ENDPOINT_URL: z.url().optional(),
    AWS_REGION: z.string().min(1).default('us-east-1'),
    AETHER_S3_SSE: z.enum(['AES256', 'aws:kms']).optional(),
    AETHER_S3_SSE_KMS_KEY: z.string().min(1).optional(),
    /** HMAC secret for fs-driver URLs; generated and kept in the data dir when unset. */
    AETHER_STORAGE_SECRET: z.string().min(32).optional(),
    AETHER_PRESIGN_EXPIRE_SECS: z.coerce
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 3600)
      .default(900),
    /** How far the fs store's clock may be from the signer's: URLs live this much past `expires`. */
    AETHER_PRESIGN_SKEW_SECS: z.coerce.number().int().min(0).max(300).default(30),
    AETHER_MAX_ARTIFACT_SIZE_BYTES: z.coerce.number().int().min(0).default(0),
    /** Per-app quota defaults (0 = unlimited); admins override them per app. */
    AETHER_MAX_ARTIFACTS_PER_APP: z.coerce.number().int().min(0).default(0),
    AETHER_MAX_TOTAL_BYTES_PER_APP: z.coerce.number().int().min(0).default(0),
    /** Keep the newest N stored artifacts per app (0 = keep all). */
    AETHER_RETAIN_LATEST_PER_APP: z.coerce.number().int().min(0).default(0),
    /** Most bytes a release may unpack to (a gzip bomb is refused at unpack); admins override it per app. */
    AETHER_MAX_UNPACKED_BYTES: z.coerce
      .number()
      .int()
      .min(1)
      .default(1024 ** 3),
    /** Pending uploads older than this are garbage-collected. */
    AETHER_PENDING_TTL_SECS: z.coerce.number().int().min(60).default(3600),
    AETHER_PENDING_GC_INTERVAL_SECS: z.coerce.number().int().min(5).default(60),
    /** Refuse complete for an artifact that was never presigned. */
    AETHER_REQUIRE_PRESIGN: bool.default(false),
    /** Legacy direct upload (`POST /artifacts`): uploads at once; the rest wait their turn. */
    AETHER_MAX_CONCURRENT_UPLOADS: z.coerce.number().int().min(1).default(32),
    /** Largest JSON request body any API face reads (413 beyond); artifact bytes have their own limits. */
    AETHER_MAX_JSON_BODY_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .default(1024 * 1024),
    AETHER_RUNTIME: z.enum(['local', 'kubernetes']).default('local'),
    /** Kubernetes runtime: the apps' namespace (else AETHER_DEFAULT_NAMESPACE, else `aether-apps`). */
    AETHER_NAMESPACE: z.string().regex(DNS_LABEL).optional(),
    AETHER_DEFAULT_NAMESPACE: z.string().regex(DNS_LABEL).optional(),
    /** Kubernetes config file; unset: in-cluster config, else ~/.kube/config. */
    KUBECONFIG: z.string().min(1).optional(),
    AETHER_RUNTIME_IMAGE: z.string().min(1).default('aether-nodejs:20-slim'),
    /** How pods reach this control plane to fetch artifacts (default AETHER_PUBLIC_URL). */
    AETHER_RUNTIME_FETCH_URL: z.url().optional(),
    /** HMAC secret of the per-deployment artifact fetch tokens (default AETHER_STORAGE_SECRET). */
    AETHER_RUNTIME_FETCH_SECRET: z.string().min(32).optional(),
    AETHER_RUNTIME_CPU_REQUEST: z.string().regex(QUANTITY).default('100m'),
    AETHER_RUNTIME_MEMORY_REQUEST: z.string().regex(QUANTITY).default('128Mi'),
    AETHER_RUNTIME_CPU_LIMIT: z.string().regex(QUANTITY).default('1'),
    AETHER_RUNTIME_MEMORY_LIMIT: z.string().regex(QUANTITY).default('512Mi'),
    AETHER_RUNTIME_PROGRESS_DEADLINE_SECS: z.coerce.number().int().min(1).max(3600).default(300),
    AETHER_RUNTIME_HEALTH_PATH: z
      .string()
      .regex(/^\/[\x21-\x7e]*$/)
      .default('/'),
    AETHER_HEALTH_TIMEOUT_SECS: z.coerce.number().int().min(1).max(3600).default(60),
    /** Local runtime: the router every app answers behind, `<app>.<AETHER_ROUTER_DOMAIN>:<port>`; 0 takes a free port (tests). */
    AETHER_ROUTER_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
    AETHER_ROUTER_HOST: z.string().min(1).default('127.0.0.1'),
    /** `npm run worker`: where its own /healthz and /metrics listen (all interfaces, for probes); 0 takes a free port. */
    AETHER_WORKER_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
    /**
     * `auto`: HAProxy in front of the Node.js router when haproxy (2.4+) is installed; `node`: the
     * Node.js router alone (the default until the control plane's restart path is proven with HAProxy).
     */
    AETHER_ROUTER_ENGINE: z.enum(['auto', 'haproxy', 'node']).default('auto'),
    /** The hostname suffix apps answer under; `localhost` resolves to loopback in browsers and curl. */
    AETHER_ROUTER_DOMAIN: z
      .string()
      .regex(DNS_NAME, 'a DNS name: lower-case labels of 1-63 characters joined by dots')
      .default('localhost'),
    /** Local runtime supervision: health checks after the rollout, and what counts as a crash loop. */
    AETHER_HEALTH_INTERVAL_SECS: z.coerce.number().int().min(1).max(3600).default(10),
    AETHER_CRASH_LOOP_RESTARTS: z.coerce.number().int().min(1).max(1000).default(5),
    AETHER_CRASH_LOOP_WINDOW_SECS: z.coerce.number().int().min(10).max(86_400).default(300),
    /** How long a replaced instance may finish its requests in flight before SIGTERM. */
    AETHER_DRAIN_TIMEOUT_SECS: z.coerce.number().int().min(0).max(3600).default(30),
    /** Most instances an app may scale to, unless its own `max_instances` says otherwise. */
    AETHER_MAX_INSTANCES: z.coerce.number().int().min(1).max(1000).default(10),
    /** Kubernetes: each app gets an Ingress for `<app>.<AETHER_APP_DOMAIN>` when set. */
    AETHER_APP_DOMAIN: z
      .string()
      .regex(DNS_NAME, 'a DNS name: lower-case labels of 1-63 characters joined by dots')
      .optional(),
    AETHER_INGRESS_CLASS: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/)
      .optional(),
    /** A TLS Secret (in the apps' namespace) the Ingress serves `<app>.<domain>` with, e.g. a wildcard certificate. */
    AETHER_INGRESS_TLS_SECRET: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/)
      .optional(),
    NODE_ENV: z.string().optional(),
    /** Local runtime, control plane as root: host uids (and gids) handed to apps, one per app. */
    AETHER_APP_UID_RANGE: numberRange('100000-165535', 1000, Number.MAX_SAFE_INTEGER),
    /** Local runtime: the ports app instances listen on (127.0.0.1); keep it out of the host's ephemeral range. */
    AETHER_APP_PORT_RANGE: numberRange('20000-29999', 1024, 65535),
    /** Local runtime limits per app instance (cgroups where available; the disk one by a watchdog). */
    AETHER_APP_MEMORY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .min(16 * 1024 ** 2)
      .default(512 * 1024 ** 2),
    AETHER_APP_PIDS_LIMIT: z.coerce.number().int().min(8).default(256),
    AETHER_APP_NOFILE_LIMIT: z.coerce.number().int().min(64).default(4096),
    AETHER_APP_CPU_LIMIT: z.coerce.number().min(0.01).default(1),
    AETHER_APP_DISK_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .min(1024 ** 2)
      .default(1024 ** 3),
    /** How often the local runtime checks running apps against their limits (cgroup counters, disk use). */
    AETHER_APP_LIMIT_CHECK_MS: z.coerce.number().int().min(100).default(5000),
    /** Lets a production control plane run apps unsandboxed, as its own user, when no sandbox is possible. */
    AETHER_UNSAFE_SHARED_USER: bool.default(false),
    /** `fenced`: apps (own uids, root control plane) cannot connect to this host's services; `open`: they can. */
    AETHER_APP_NETWORK: z.enum(['fenced', 'open']).default('fenced'),
    /** `inline` runs the BullMQ workers inside the web process; `off` leaves them to `npm run worker`. */
    AETHER_WORKERS: z.enum(['inline', 'off']).default('inline'),
    /** Job lock lifetime: a killed worker's jobs are retried after about this long. */
    AETHER_JOB_LOCK_SECS: z.coerce.number().int().min(1).max(600).default(30),
    AETHER_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
    /** When set, /metrics answers only `Authorization: Bearer <this>`. */
    AETHER_METRICS_TOKEN: z.string().min(16).optional(),
    AETHER_VERIFY_REMOTE_SIZE: bool.default(true),
    AETHER_VERIFY_REMOTE_DIGEST: bool.default(true),
    /** Download and hash the whole object when it is at most AETHER_REMOTE_HASH_MAX_BYTES. */
    AETHER_VERIFY_REMOTE_HASH: bool.default(false),
    AETHER_REMOTE_HASH_MAX_BYTES: z.coerce.number().int().min(0).default(8_000_000),
    /**
     * Complete verifies in the request when the store's HEAD proves the bytes (the fs store
     * hashes on write; S3 unless the full-hash check is on): no job, `stored` in its answer.
     * Off, or a download to hash, sends verification to the worker queue.
     */
    AETHER_VERIFY_INLINE: bool.default(true),
    /**
     * Key of config secrets at rest, base64 of 32 bytes (`openssl rand -base64 32`). Unset: the
     * file AETHER_SECRETS_KEY_FILE names, else `<data dir>/secrets.key`, generated once.
     */
    AETHER_SECRETS_KEY: secretsKey,
    AETHER_SECRETS_KEY_FILE: optionalText,
    /** The key being rotated away from: still opens old values until the re-encryption job has moved them. */
    AETHER_SECRETS_KEY_PREVIOUS: secretsKey,
  })
  .refine((env) => !(env.AETHER_SECRETS_KEY && env.AETHER_SECRETS_KEY_FILE), {
    message: 'set AETHER_SECRETS_KEY or AETHER_SECRETS_KEY_FILE, not both',
    path: ['AETHER_SECRETS_KEY_FILE'],
  })
  .refine(
    (env) =>
      env.AETHER_RUNTIME !== 'kubernetes' || Boolean(env.AETHER_RUNTIME_FETCH_SECRET ?? env.AETHER_STORAGE_SECRET),
    {
      // Pods fetch through whichever replica answers, days later: the secret must be shared and stable.
      message: 'AETHER_RUNTIME=kubernetes needs AETHER_RUNTIME_FETCH_SECRET (or AETHER_STORAGE_SECRET)',
      path: ['AETHER_RUNTIME_FETCH_SECRET'],
    },
  )
  .transform((env) => ({
    ...env,
    AETHER_NAMESPACE: env.AETHER_NAMESPACE ?? env.AETHER_DEFAULT_NAMESPACE ?? 'aether-apps',
    AETHER_DATA_DIR: path.resolve(env.AETHER_DATA_DIR),
    AETHER_PUBLIC_URL: (env.AETHER_PUBLIC_URL ?? `http://127.0.0.1:${env.PORT}`).replace(/\/+$/, ''),
  }));

export type Env = z.output<typeof ZEnv>;

/**
 * Parses the environment once. The only reader of process.env on the server side: everything
 * else receives an `Env`, so tests pass their own instead of mutating globals.
 */
export function loadEnv(source: Record<string, string | undefined> = process.env): Env {
  const parsed = ZEnv.safeParse(source);
  if (!parsed.success) {
    const fields = z.flattenError(parsed.error).fieldErrors as Record<string, string[] | undefined>;
    const lines = Object.entries(fields).map(([k, v]) => `  ${k}: ${(v ?? []).join('; ')}`);
    throw new Error(`invalid environment:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
