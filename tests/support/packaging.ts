import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { loadEnv } from '../../server/env';

/** Helpers of the packaging tests (Helm chart, docker-compose, Dockerfile). */
export const ROOT = path.resolve(import.meta.dirname, '../..');

export const readRepoFile = (rel: string) => readFileSync(path.join(ROOT, rel), 'utf8');
export const readYaml = <T = unknown>(rel: string): T => parse(readRepoFile(rel), { merge: true }) as T;

/** Read by the AWS SDK's default credential chain, not by server/env.ts. */
export const AWS_SDK_ENV = new Set(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']);

/** Names whose values must live in a Secret, never in a ConfigMap, image or compose default. */
export const SECRET_ENV_RE = /TOKEN|SECRET|PASSWORD|DATABASE_URL|REDIS_URL|ACCESS_KEY/;

/**
 * Whether server/env.ts reads `name`, asked of the real parser: an unknown name is silently
 * stripped, a known one is either kept or rejected (by name) for this junk value.
 */
export function isServerEnvName(name: string): boolean {
  try {
    return Object.hasOwn(loadEnv({ [name]: '\u0001junk' }), name);
  } catch (err) {
    return (err as Error).message.includes(`\n  ${name}:`);
  }
}

/** Known to the control plane: server/env.ts, or the AWS SDK's credential variables. */
export const isControlPlaneEnvName = (name: string) => AWS_SDK_ENV.has(name) || isServerEnvName(name);

/**
 * A CLI the packaging tests run (helm, docker-compose): `envVar` names an explicit binary, else
 * the first of `names` on PATH. Missing, it throws rather than let the tests skip: `npm test`
 * provides both (scripts/lib/services.mjs), so a missing one is a broken setup.
 */
export function requireTool(envVar: string, names: string[]): string {
  const explicit = process.env[envVar];
  if (explicit) {
    if (!existsSync(explicit)) throw new Error(`${envVar}=${explicit} does not exist`);
    return explicit;
  }
  for (const name of names) {
    try {
      const found = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
      if (found) return found;
    } catch {
      // not on PATH
    }
  }
  throw new Error(`${names.join(' or ')} not found: set ${envVar} or put it on PATH (npm test installs it)`);
}
