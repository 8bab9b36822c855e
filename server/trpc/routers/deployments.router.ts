import { z } from 'zod';
import { ZCreateDeploymentResult, ZDeployment, ZDeploymentEvent, ZSeedCreateDeploymentResult } from '../../contract/outputs';
import {
  ZCreateDeploymentInput,
  ZDeploymentEventsInput,
  ZDeploymentRef,
  ZListAllDeploymentsInput,
  ZListDeploymentsInput,
  ZLogsInput,
  ZPatchDeploymentInput,
  ZRollbackInput,
  ZSeedCreateDeploymentInput,
  ZWaitDeploymentInput,
} from '../../contract/schemas';
import {
  createDeployment,
  getDeployment,
  getDeploymentEvents,
  listDeployments,
  waitDeployment,
} from '../../services/deployments/deployments.service';
import { streamAppLogs } from '../../services/deployments/logs.service';
import { rollbackDeployment } from '../../services/deployments/rollback.service';
import { listAllDeployments, patchDeployment, registerDeployment } from '../../services/deployments/seed-deployments.service';
import { createTRPCRouter, deployerProcedure, readerProcedure } from '../init';

const tags = ['deployments'];

export const deploymentsRouter = createTRPCRouter({
  /** Deploy a stored artifact (idempotent per app + digest while in flight); REST: `register`. */
  create: deployerProcedure
    .input(ZCreateDeploymentInput)
    .output(ZCreateDeploymentResult)
    .mutation(({ ctx, input }) => createDeployment(ctx.svc, input)),
  /** The seed's `POST /deployments`: its body, and its 201 `{id, status}`. */
  register: deployerProcedure
    .meta({ openapi: { method: 'POST', path: '/deployments', tags, summary: 'Deploy a stored artifact by digest or artifact_url (idempotent per app + digest while in flight)', protect: true } })
    .input(ZSeedCreateDeploymentInput)
    .output(ZSeedCreateDeploymentResult)
    .mutation(({ ctx, input }) => registerDeployment(ctx.svc, input)),
  patch: deployerProcedure
    .meta({ openapi: { method: 'PATCH', path: '/deployments/{id}', tags, summary: "Roll the deployment's app out to another stored digest (a new deployment, answered)", protect: true } })
    .input(ZPatchDeploymentInput)
    .output(ZDeployment)
    .mutation(({ ctx, input }) => patchDeployment(ctx.svc, input)),
  listAll: readerProcedure
    .meta({ openapi: { method: 'GET', path: '/deployments', tags, summary: 'Deployments newest first, of every visible app or of app_name', protect: true } })
    .input(ZListAllDeploymentsInput)
    .output(z.array(ZDeployment))
    .query(({ ctx, input }) => listAllDeployments(ctx.svc, input)),
  list: readerProcedure
    .meta({ openapi: { method: 'GET', path: '/apps/{app_name}/deployments', tags, summary: "An app's deployments, newest first", protect: true } })
    .input(ZListDeploymentsInput)
    .output(z.array(ZDeployment))
    .query(({ ctx, input }) => listDeployments(ctx.svc, input)),
  get: readerProcedure
    .meta({ openapi: { method: 'GET', path: '/deployments/{id}', tags, summary: 'One deployment', protect: true } })
    .input(ZDeploymentRef)
    .output(ZDeployment)
    .query(({ ctx, input }) => getDeployment(ctx.svc, input.id)),
  events: readerProcedure
    .meta({ openapi: { method: 'GET', path: '/deployments/{id}/events', tags, summary: 'Rollout phases and transitions', protect: true } })
    .input(ZDeploymentEventsInput)
    .output(z.array(ZDeploymentEvent))
    .query(({ ctx, input }) => getDeploymentEvents(ctx.svc, input)),
  /** Long-poll until the deployment settles (at most `timeout_ms`). */
  wait: readerProcedure
    .meta({ openapi: { method: 'GET', path: '/deployments/{id}/wait', tags, summary: 'Long-poll until the deployment settles', protect: true } })
    .input(ZWaitDeploymentInput)
    .output(ZDeployment)
    .query(({ ctx, input }) => waitDeployment(ctx.svc, input)),
  /** A new deployment of an earlier stored artifact (default: what ran before the current one). */
  rollback: deployerProcedure
    .meta({ openapi: { method: 'POST', path: '/apps/{app_name}/rollback', tags, summary: 'Roll back to an earlier deployment (default: the one before the current)', protect: true } })
    .input(ZRollbackInput)
    .output(ZCreateDeploymentResult)
    .mutation(({ ctx, input }) => rollbackDeployment(ctx.svc, input)),
  /**
   * An app's output as LogEntry values (over SSE with httpSubscriptionLink): the last `tail`,
   * then with `follow` new ones until the client unsubscribes. REST: GET /apps/{app}/logs.
   */
  logs: readerProcedure.input(ZLogsInput).subscription(async function* ({ ctx, input, signal }) {
    const { entries } = await streamAppLogs(ctx.svc, { ...input, signal });
    yield* entries;
  }),
});
