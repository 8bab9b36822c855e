import { z } from 'zod';
import { ZAddPublicKeyInput, ZPublicKey, ZPublicKeyRef } from '../../contract/keys';
import { ZAppRef } from '../../contract/schemas';
import { addPublicKey, deactivatePublicKey, listPublicKeys } from '../../services/keys/keys.service';
import { adminProcedure, createTRPCRouter, readerProcedure } from '../init';

const tags = ['keys'];

/**
 * Artifact signing keys per app. Adding or removing a key changes whom the platform trusts to
 * vouch for an app's bytes (`verified`), which is a trust decision, not part of shipping: a
 * deployer holding a CI token could otherwise register their own key and sign anything. So
 * both are admin-only (as the seed's "write" on this route was); reading keys is harmless.
 */
export const keysRouter = createTRPCRouter({
  add: adminProcedure
    .meta({ openapi: { method: 'POST', path: '/apps/{app_name}/public-keys', tags, summary: 'Register an Ed25519 public key (re-activates a known one)', protect: true } })
    .input(ZAddPublicKeyInput)
    .output(ZPublicKey)
    .mutation(({ ctx, input }) => addPublicKey(ctx.svc, input)),
  list: readerProcedure
    .meta({ openapi: { method: 'GET', path: '/apps/{app_name}/public-keys', tags, summary: "An app's public keys, active or not", protect: true } })
    .input(ZAppRef)
    .output(z.array(ZPublicKey))
    .query(({ ctx, input }) => listPublicKeys(ctx.svc, input)),
  deactivate: adminProcedure
    .meta({ openapi: { method: 'POST', path: '/apps/{app_name}/public-keys/{key_id}/deactivate', tags, summary: 'Stop a key from verifying new artifacts (idempotent)', protect: true } })
    .input(ZPublicKeyRef)
    .output(ZPublicKey)
    .mutation(({ ctx, input }) => deactivatePublicKey(ctx.svc, input)),
});
