import { createHash } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import { publicKeys } from '../../db/schema';
import { isAppError } from '../../server/errors';
import { findVerifyingKey } from '../../server/services/keys/keys.service';
import { generateSigningKeyPair, publicKeyFingerprint, signDigest } from '../../server/contract/ed25519';
import { DB_KINDS, startTestPlane, TOKENS, type TestPlane } from '../support/harness';

const DIGEST = createHash('sha256').update('signed artifact').digest('hex');
/** 64 hex characters that node imports as a key but that are no curve point (y = 2). */
const NOT_A_POINT = '02'.padEnd(64, '0');
/** The neutral element: a curve point, but of small order (any signature could be forged). */
const IDENTITY = '01'.padEnd(64, '0');

/** The domain code a caller sees, whether the failure came from a service or from zod. */
async function codeOf(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof TRPCError)) return `no TRPCError: ${String(err)}`;
  if (isAppError(err.cause)) return err.cause.code;
  if (err.cause instanceof ZodError) return 'bad_request';
  return err.code;
}

/** Every key row: "changes nothing" compares these before and after. */
async function keyRows(plane: TestPlane) {
  const rows = await plane.services.db.select().from(publicKeys).orderBy(publicKeys.id);
  return rows.map((r) => ({ id: r.id, appId: r.appId, hex: r.publicKeyHex, active: r.active, off: r.deactivatedAt?.toISOString() ?? null }));
}

describe.each(DB_KINDS)('signing keys on %s', (kind) => {
  let plane: TestPlane;
  let signedAppId: string;
  const k1 = generateSigningKeyPair();
  const k2 = generateSigningKeyPair();
  const foreign = generateSigningKeyPair();

  beforeAll(async () => {
    plane = await startTestPlane(kind);
    signedAppId = (await plane.caller('deployer').apps.create({ name: 'signed' })).id;
    await plane.caller('deployer').apps.create({ name: 'other' });
  });
  afterAll(async () => plane?.close());

  const rest = (method: string, path: string, token: string | null, body?: unknown) =>
    fetch(`${plane.url}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('adds, lists and deactivates keys through tRPC', async () => {
    const admin = plane.caller('admin');
    const added = await admin.keys.add({ app_name: 'signed', public_key_hex: k1.publicKeyHex });
    expect(added).toMatchObject({
      app_id: signedAppId,
      app_name: 'signed',
      public_key_hex: k1.publicKeyHex,
      fingerprint: publicKeyFingerprint(k1.publicKeyHex),
      active: true,
      deactivated_at: null,
    });
    await admin.keys.add({ app_name: 'signed', public_key_hex: k2.publicKeyHex });
    const listed = await plane.caller('reader').keys.list({ app_name: 'signed' });
    expect(listed.map((k) => [k.public_key_hex, k.active])).toEqual([
      [k1.publicKeyHex, true],
      [k2.publicKeyHex, true],
    ]);

    const off = await admin.keys.deactivate({ app_name: 'signed', key_id: added.key_id });
    expect(off).toMatchObject({ key_id: added.key_id, active: false });
    expect(off.deactivated_at).not.toBeNull();
    // Idempotent: the first deactivation time stays.
    expect(await admin.keys.deactivate({ app_name: 'signed', key_id: added.key_id })).toEqual(off);
  });

  it('re-adding a deactivated key re-activates the same row', async () => {
    const admin = plane.caller('admin');
    const [before] = (await admin.keys.list({ app_name: 'signed' })).filter((k) => k.public_key_hex === k1.publicKeyHex);
    expect(before?.active).toBe(false);
    const again = await admin.keys.add({ app_name: 'signed', public_key_hex: k1.publicKeyHex });
    expect(again).toMatchObject({ key_id: before!.key_id, active: true, deactivated_at: null, created_at: before!.created_at });
    expect(await admin.keys.list({ app_name: 'signed' })).toHaveLength(2);
    // Adding an active key again is a no-op that answers the same key.
    expect((await admin.keys.add({ app_name: 'signed', public_key_hex: k1.publicKeyHex })).key_id).toBe(before!.key_id);
  });

  it('refuses bad input with the exact code, changing nothing', async () => {
    const otherKey = await plane.caller('admin').keys.add({ app_name: 'other', public_key_hex: foreign.publicKeyHex });
    const before = await keyRows(plane);
    const admin = plane.caller('admin');
    const add = (public_key_hex: string, app_name = 'signed') => admin.keys.add({ app_name, public_key_hex });
    const fresh = generateSigningKeyPair().publicKeyHex;
    const cases: Array<[string, () => Promise<unknown>, string]> = [
      ['63 chars', () => add(fresh.slice(1)), 'bad_request'],
      ['65 chars', () => add(`${fresh}0`), 'bad_request'],
      ['uppercase', () => add(fresh.toUpperCase()), 'bad_request'],
      ['non-hex', () => add(`${fresh.slice(0, 63)}g`), 'bad_request'],
      // node imports any 32 bytes as a key; the service decodes the point itself.
      ['not a curve point', () => add(NOT_A_POINT), 'bad_request'],
      ['small-order point', () => add(IDENTITY), 'bad_request'],
      ['unknown app', () => add(fresh, 'ghost'), 'not_found'],
      ['invalid app name', () => add(fresh, 'Bad_Name'), 'bad_request'],
      ['reader adds', () => plane.caller('reader').keys.add({ app_name: 'signed', public_key_hex: fresh }), 'forbidden'],
      ['deployer adds', () => plane.caller('deployer').keys.add({ app_name: 'signed', public_key_hex: fresh }), 'forbidden'],
      ['anonymous adds', () => plane.caller(null).keys.add({ app_name: 'signed', public_key_hex: fresh }), 'unauthorized'],
      ['anonymous lists', () => plane.caller(null).keys.list({ app_name: 'signed' }), 'unauthorized'],
      ['list unknown app', () => plane.caller('reader').keys.list({ app_name: 'ghost' }), 'not_found'],
      ['deactivate key of another app', () => admin.keys.deactivate({ app_name: 'signed', key_id: otherKey.key_id }), 'not_found'],
      ['deactivate unknown key', () => admin.keys.deactivate({ app_name: 'signed', key_id: '00000000-0000-4000-8000-000000000000' }), 'not_found'],
      ['deactivate non-uuid', () => admin.keys.deactivate({ app_name: 'signed', key_id: 'nope' }), 'bad_request'],
      ['deployer deactivates', () => plane.caller('deployer').keys.deactivate({ app_name: 'other', key_id: otherKey.key_id }), 'forbidden'],
    ];
    for (const [name, call, code] of cases) expect({ name, code: await codeOf(call()) }).toEqual({ name, code });
    expect(await keyRows(plane)).toEqual(before);
  });

  it('serves the same procedures over REST with the seed paths and envelope', async () => {
    const key = generateSigningKeyPair().publicKeyHex;
    const created = await rest('POST', '/apps/other/public-keys', TOKENS.admin, { public_key_hex: key });
    // 201 needs 'keys.add' in CREATED of server/rest/routes.ts.
    expect(created.status).toBe(201);
    const dto = (await created.json()) as { key_id: string; app_id: string; public_key_hex: string; active: boolean };
    expect(dto).toMatchObject({ app_name: 'other', public_key_hex: key, active: true });

    const list = await rest('GET', '/apps/other/public-keys', TOKENS.reader);
    expect(list.status).toBe(200);
    expect(((await list.json()) as Array<{ key_id: string }>).map((k) => k.key_id)).toContain(dto.key_id);

    // trpc-to-openapi wants a JSON content-type on every POST, even one whose input is all path.
    const off = await rest('POST', `/apps/other/public-keys/${dto.key_id}/deactivate`, TOKENS.admin, {});
    expect(off.status).toBe(200);
    expect(await off.json()).toMatchObject({ key_id: dto.key_id, active: false });

    const before = await keyRows(plane);
    const fresh = generateSigningKeyPair().publicKeyHex;
    const cases: Array<[string, string, string | null, unknown, number, string]> = [
      ['POST', '/apps/other/public-keys', null, { public_key_hex: fresh }, 401, 'unauthorized'],
      ['POST', '/apps/other/public-keys', TOKENS.reader, { public_key_hex: fresh }, 403, 'forbidden'],
      ['POST', '/apps/other/public-keys', TOKENS.deployer, { public_key_hex: fresh }, 403, 'forbidden'],
      ['POST', '/apps/other/public-keys', TOKENS.admin, { public_key_hex: fresh.slice(1) }, 400, 'bad_request'],
      ['POST', '/apps/other/public-keys', TOKENS.admin, { public_key_hex: fresh.toUpperCase() }, 400, 'bad_request'],
      ['POST', '/apps/other/public-keys', TOKENS.admin, { public_key_hex: NOT_A_POINT }, 400, 'bad_request'],
      ['POST', '/apps/other/public-keys', TOKENS.admin, {}, 400, 'bad_request'],
      ['POST', '/apps/ghost/public-keys', TOKENS.admin, { public_key_hex: fresh }, 404, 'not_found'],
      ['POST', '/apps/Bad_Name/public-keys', TOKENS.admin, { public_key_hex: fresh }, 400, 'bad_request'],
      ['GET', '/apps/other/public-keys', null, undefined, 401, 'unauthorized'],
      ['GET', '/apps/ghost/public-keys', TOKENS.reader, undefined, 404, 'not_found'],
      ['POST', `/apps/signed/public-keys/${dto.key_id}/deactivate`, TOKENS.admin, {}, 404, 'not_found'],
      ['POST', '/apps/signed/public-keys/not-a-uuid/deactivate', TOKENS.admin, {}, 400, 'bad_request'],
      ['POST', `/apps/other/public-keys/${dto.key_id}/deactivate`, TOKENS.deployer, {}, 403, 'forbidden'],
    ];
    for (const [method, path, token, body, status, code] of cases) {
      const res = await rest(method, path, token, body);
      const env = (await res.json()) as { code: string; message: string };
      expect({ method, path, body, status: res.status, code: env.code }).toEqual({ method, path, body, status, code });
      expect(Object.keys(env).sort()).toEqual(['code', 'message']);
    }
    expect(await keyRows(plane)).toEqual(before);

    const doc = (await (await fetch(`${plane.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths['/apps/{app_name}/public-keys'] ?? {}).sort()).toEqual(['get', 'post']);
    expect(doc.paths['/apps/{app_name}/public-keys/{key_id}/deactivate']).toHaveProperty('post');
  });

  it('findVerifyingKey picks the active key that verifies, and never a deactivated one', async () => {
    const db = plane.services.db;
    const keys = await plane.caller('reader').keys.list({ app_name: 'signed' });
    const id2 = keys.find((k) => k.public_key_hex === k2.publicKeyHex)!.key_id;
    const sig2 = signDigest(k2.privateSeedHex, DIGEST);
    expect(await findVerifyingKey(db, signedAppId, DIGEST, sig2)).toBe(id2);
    // Wrong digest, a signature by a key of another app, a malformed signature: no key.
    expect(await findVerifyingKey(db, signedAppId, DIGEST.replace(/.$/, (c) => (c === '0' ? '1' : '0')), sig2)).toBeNull();
    expect(await findVerifyingKey(db, signedAppId, DIGEST, signDigest(foreign.privateSeedHex, DIGEST))).toBeNull();
    expect(await findVerifyingKey(db, signedAppId, DIGEST, sig2.toUpperCase())).toBeNull();

    await plane.caller('admin').keys.deactivate({ app_name: 'signed', key_id: id2 });
    expect(await findVerifyingKey(db, signedAppId, DIGEST, sig2)).toBeNull();
    // k1 is still active and still verifies its own signatures.
    const id1 = keys.find((k) => k.public_key_hex === k1.publicKeyHex)!.key_id;
    expect(await findVerifyingKey(db, signedAppId, DIGEST, signDigest(k1.privateSeedHex, DIGEST))).toBe(id1);
  });
});
