import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadEnv } from '../../server/env';
import { ROOT, isControlPlaneEnvName, readYaml, requireTool } from '../support/packaging';

/**
 * docker-compose.yml read as Compose reads it (YAML with merge keys, then `${VAR:-default}`
 * interpolation), and the environment it gives web and worker parsed by server/env.ts.
 * `docker-compose config` validates it too (AETHER_COMPOSE_BIN, or docker-compose on PATH).
 */
interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: string[];
  volumes?: string[];
}
const compose = readYaml<{ services: Record<string, Service> }>('docker-compose.yml');
const services = compose.services;

/** Compose's interpolation: ${V}, ${V:-default}, ${V-default}, ${V:?error}, and $$ for a literal $. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (whole, name: string | undefined, op: string | undefined, arg: string) => {
    if (whole === '$$') return '$';
    const v = vars[name!];
    const unset = op?.startsWith(':') ? !v : v === undefined;
    if (!unset) return v!;
    if (op?.endsWith('?')) throw new Error(`${name}: ${arg}`);
    return op ? arg : '';
  });
}

const HOST_VARS = { AETHER_API_TOKENS: 'tok_admin:admin:ops', AETHER_SECRETS_KEY: Buffer.alloc(32, 7).toString('base64') };
const envOf = (svc: string, vars: Record<string, string> = HOST_VARS) =>
  Object.fromEntries(Object.entries(services[svc]!.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), vars)]));

describe('docker-compose.yml', () => {
  it('has PostgreSQL, Redis, MinIO and its bucket job, the migrations, web and worker', () => {
    expect(Object.keys(services).sort()).toEqual(['migrate', 'minio', 'minio-init', 'postgres', 'redis', 'web', 'worker']);
  });

  it('health-checks every long-running service and starts each after what it needs', () => {
    for (const s of ['postgres', 'redis', 'minio', 'web', 'worker']) expect(services[s]!.healthcheck?.test.length, s).toBeGreaterThan(1);
    expect(services['minio-init']!.depends_on).toEqual({ minio: { condition: 'service_healthy' } });
    expect(services.migrate!.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    for (const s of ['web', 'worker']) {
      expect(services[s]!.depends_on, s).toEqual({
        migrate: { condition: 'service_completed_successfully' },
        redis: { condition: 'service_healthy' },
        'minio-init': { condition: 'service_completed_successfully' },
      });
    }
    // web is healthy when /readyz (database + Redis) answers 200.
    expect(services.web!.healthcheck!.test.join(' ')).toContain(`127.0.0.1:${envOf('web').PORT}/readyz`);
    // worker is healthy when its own /healthz (AETHER_WORKER_PORT) answers 200.
    expect(services.worker!.healthcheck!.test.join(' ')).toContain(`127.0.0.1:${envOf('worker').AETHER_WORKER_PORT}/healthz`);
  });

  it('runs web, worker and migrations from the one image built by the root Dockerfile', () => {
    const [web, worker, migrate] = [services.web!, services.worker!, services.migrate!];
    expect(web.image).toBeTruthy();
    for (const s of [worker, migrate]) expect({ image: s.image, build: s.build }).toEqual({ image: web.image, build: web.build });
    expect(existsSync(path.join(ROOT, web.build!.context, web.build!.dockerfile))).toBe(true);
    expect(web.command).toBeUndefined();
    expect(worker.command).toEqual(['node', '--import', 'tsx', 'jobs/main.ts']);
    expect(migrate.command).toEqual(['node', '--import', 'tsx', 'jobs/migrate.ts']);
    for (const s of [worker, migrate]) expect(existsSync(path.join(ROOT, s.command!.at(-1)!))).toBe(true);
  });

  it('gives web and worker an environment server/env.ts accepts, pointing at the compose services', () => {
    const postgres = envOf('postgres');
    const minio = envOf('minio');
    for (const svc of ['web', 'worker']) {
      const raw = envOf(svc);
      expect(Object.keys(raw).filter((k) => !isControlPlaneEnvName(k)), svc).toEqual([]);
      const env = loadEnv(raw);
      expect(env.AETHER_STORAGE_MODE).toBe('s3');
      const db = new URL(env.DATABASE_URL!);
      expect([db.hostname, db.username, db.password, db.pathname]).toEqual(['postgres', postgres.POSTGRES_USER, postgres.POSTGRES_PASSWORD, `/${postgres.POSTGRES_DB}`]);
      expect(new URL(env.REDIS_URL).hostname).toBe('redis');
      expect(new URL(env.AETHER_S3_ENDPOINT_URL!).host).toBe('minio:9000');
      expect([raw.AWS_ACCESS_KEY_ID, raw.AWS_SECRET_ACCESS_KEY]).toEqual([minio.MINIO_ROOT_USER, minio.MINIO_ROOT_PASSWORD]);
      // Both processes read and write the same data dir (app logs and state of the local runtime).
      expect(services[svc]!.volumes).toEqual([`aetherdata:${env.AETHER_DATA_DIR}`]);
    }
    // The web process serves; the worker service runs the queues.
    expect(loadEnv(envOf('web')).AETHER_WORKERS).toBe('off');
    expect(services.web!.ports).toEqual([`${envOf('web').PORT}:${envOf('web').PORT}`]);
  });

  it("creates the bucket the control plane uses, with MinIO's credentials", () => {
    const init = services['minio-init']!;
    const env = envOf('minio-init');
    const script = interpolate(init.command!.join(' '), HOST_VARS);
    expect(init.entrypoint).toEqual(['/bin/sh', '-c']);
    expect(script).toContain('mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"');
    expect(script).toContain('mc mb --ignore-existing "local/$BUCKET"');
    expect(env.BUCKET).toBe(loadEnv(envOf('web')).AETHER_ARTIFACT_BUCKET);
    expect([env.MINIO_ROOT_USER, env.MINIO_ROOT_PASSWORD]).toEqual([envOf('minio').MINIO_ROOT_USER, envOf('minio').MINIO_ROOT_PASSWORD]);
    // The same variables override both sides.
    const custom = { ...HOST_VARS, AETHER_ARTIFACT_BUCKET: 'team-artifacts' };
    expect(envOf('minio-init', custom).BUCKET).toBe(envOf('web', custom).AETHER_ARTIFACT_BUCKET);
  });

  it('ships no admin token: web and worker refuse to start until one is given', () => {
    for (const svc of ['web', 'worker']) expect(() => envOf(svc, {})).toThrow(/AETHER_API_TOKENS/);
  });

  it('ships no secrets key: web and worker refuse to start until one is given, and pass a previous one on', () => {
    const { AETHER_SECRETS_KEY: _key, ...withoutKey } = HOST_VARS;
    for (const svc of ['web', 'worker']) {
      expect(() => envOf(svc, withoutKey)).toThrow(/^AETHER_SECRETS_KEY: export AETHER_SECRETS_KEY=<output of openssl rand -base64 32> first/);
      expect(loadEnv(envOf(svc)).AETHER_SECRETS_KEY).toBe(HOST_VARS.AETHER_SECRETS_KEY);
      // Unset, the previous key reaches the process as an empty string: no rotation in progress.
      expect(loadEnv(envOf(svc)).AETHER_SECRETS_KEY_PREVIOUS).toBeUndefined();
      const previous = Buffer.alloc(32, 9).toString('base64');
      expect(loadEnv(envOf(svc, { ...HOST_VARS, AETHER_SECRETS_KEY_PREVIOUS: previous })).AETHER_SECRETS_KEY_PREVIOUS).toBe(previous);
    }
    // The migrations never see it.
    expect(Object.keys(envOf('migrate'))).not.toContain('AETHER_SECRETS_KEY');
  });

  it('keeps PostgreSQL and Redis on the loopback interface', () => {
    expect(services.postgres!.ports).toEqual(['127.0.0.1:5432:5432']);
    expect(services.redis!.ports).toEqual(['127.0.0.1:6379:6379']);
  });
});

describe('docker-compose.yml, read by the Compose CLI', () => {
  const config = (env: Record<string, string>) =>
    promisify(execFile)(requireTool('AETHER_COMPOSE_BIN', ['docker-compose']), ['-f', path.join(ROOT, 'docker-compose.yml'), 'config', '-q'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', ...env } });

  it('validates with an admin token and a secrets key, and names the missing variable without one', async () => {
    await expect(config(HOST_VARS)).resolves.toBeDefined();
    await expect(config({})).rejects.toMatchObject({ stderr: expect.stringContaining('AETHER_API_TOKENS') });
    await expect(config({ AETHER_API_TOKENS: HOST_VARS.AETHER_API_TOKENS })).rejects.toMatchObject({ stderr: expect.stringContaining('AETHER_SECRETS_KEY') });
  });
});
