import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { artifacts, deployments, publicKeys } from '../../db/schema';
import { artifactStorageKey } from '../../server/contract/digest';
import type { Services } from '../../server/services/context';
import { actor, callerAs } from './audit';
import { configVersionOf } from './config-version';

/** What an app-scoped call may name: an app, one of its stored artifacts, a running deployment, a key. */
export interface Target {
  app: string;
  team: string | null;
  digest: string;
  deploymentId: string;
  keyId: string;
}

export const randomDigest = () => randomBytes(32).toString('hex');

/** A fresh Ed25519 public key as raw hex (32 bytes), as keys.add takes it. */
export function publicKeyHex(): string {
  const der = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32).toString('hex');
}

/**
 * An app of `team` (created through apps.create, as an admin) with a stored artifact, a running
 * deployment of it and an active signing key, the rows written directly: no upload, no process.
 */
export async function createTargetApp(services: Services, team: string, name = `t${team}-${randomUUID().slice(0, 8)}`): Promise<Target> {
  const app = await callerAs(services, actor('admin')).apps.create({ name, team });
  const db = services.db;
  const digest = randomDigest();
  const [art] = await db
    .insert(artifacts)
    .values({ appId: app.id, digest, sizeBytes: 10, status: 'stored', storageKey: artifactStorageKey(name, digest), storedAt: new Date() })
    .returning();
  const [dep] = await db
    .insert(deployments)
    .values({ appId: app.id, configVersionId: await configVersionOf(db, app.id), artifactId: art!.id, digest, status: 'running', createdBy: 'test' })
    .returning();
  const [key] = await db.insert(publicKeys).values({ appId: app.id, publicKeyHex: publicKeyHex() }).returning();
  return { app: name, team, digest, deploymentId: dep!.id, keyId: key!.id };
}

/** Names nobody created: the answer for these is what a hidden app's must look like. */
export function missingTarget(): Target {
  return { app: `missing-${randomUUID().slice(0, 8)}`, team: null, digest: randomDigest(), deploymentId: randomUUID(), keyId: randomUUID() };
}

/** `message` with the target's names and ids replaced, to compare answers about different targets. */
export function normalizeMessage(message: string | undefined, t: Target): string {
  return (message ?? '')
    .replaceAll(t.app, '<app>')
    .replaceAll(t.digest, '<digest>')
    .replaceAll(t.digest.slice(0, 12), '<digest>')
    .replaceAll(t.deploymentId, '<deployment>')
    .replaceAll(t.keyId, '<key>');
}
