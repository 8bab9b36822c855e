import { z } from 'zod';
import { ZArtifact, ZArtifactPage, ZCompleteResult, ZMultipartInitResult, ZPresignedPart, ZPresignedParts, ZPresignResult } from '../../contract/outputs';
import {
  ZArtifactMetaInput,
  ZArtifactRef,
  ZCompleteInput,
  ZListArtifactsInput,
  ZMultipartAbortInput,
  ZMultipartCompleteInput,
  ZMultipartInitInput,
  ZMultipartPresignPartInput,
  ZMultipartPresignPartsInput,
  ZPresignInput,
  ZWaitArtifactInput,
} from '../../contract/schemas';
import { abortMultipart, completeMultipart, initMultipart, presignMultipartPart, presignMultipartParts } from '../../services/artifacts/multipart.service';
import { findArtifactByDigest, getArtifact, listArtifacts, waitArtifact } from '../../services/artifacts/query.service';
import { completeArtifact, presignArtifact } from '../../services/artifacts/upload.service';
import { createTRPCRouter, deployerProcedure, readerProcedure } from '../init';

const tags = ['artifacts'];
const post = (path: `/${string}`, summary: string) => ({ openapi: { method: 'POST' as const, path, tags, summary, protect: true } });
const get = (path: `/${string}`, summary: string) => ({ openapi: { method: 'GET' as const, path, tags, summary, protect: true } });

export const artifactsRouter = createTRPCRouter({
  presign: deployerProcedure
    .meta(post('/artifacts/presign', 'Presigned PUT for a new artifact (method NONE when already stored)'))
    .input(ZPresignInput)
    .output(ZPresignResult)
    .mutation(({ ctx, input }) => presignArtifact(ctx.svc, input)),
  complete: deployerProcedure
    .meta(post('/artifacts/complete', 'Finish an upload: reserves quota and queues verification'))
    .input(ZCompleteInput)
    .output(ZCompleteResult)
    .mutation(({ ctx, input }) => completeArtifact(ctx.svc, input)),
  multipartInit: deployerProcedure
    .meta(post('/artifacts/multipart/init', 'Start a multipart upload'))
    .input(ZMultipartInitInput)
    .output(ZMultipartInitResult)
    .mutation(({ ctx, input }) => initMultipart(ctx.svc, input)),
  multipartPresignPart: deployerProcedure
    .meta(post('/artifacts/multipart/presign-part', 'Presigned PUT for one part'))
    .input(ZMultipartPresignPartInput)
    .output(ZPresignedPart)
    .mutation(({ ctx, input }) => presignMultipartPart(ctx.svc, input)),
  multipartPresignParts: deployerProcedure
    .meta(post('/artifacts/multipart/presign-parts', 'Presigned PUTs for several parts in one round trip'))
    .input(ZMultipartPresignPartsInput)
    .output(ZPresignedParts)
    .mutation(({ ctx, input }) => presignMultipartParts(ctx.svc, input)),
  multipartComplete: deployerProcedure
    .meta(post('/artifacts/multipart/complete', 'Assemble the parts; then as complete'))
    .input(ZMultipartCompleteInput)
    .output(ZCompleteResult)
    .mutation(({ ctx, input }) => completeMultipart(ctx.svc, input)),
  multipartAbort: deployerProcedure
    .meta(post('/artifacts/multipart/abort', 'Discard an unfinished multipart upload'))
    .input(ZMultipartAbortInput)
    .output(z.object({ aborted: z.boolean() }))
    .mutation(({ ctx, input }) => abortMultipart(ctx.svc, input)),
  list: readerProcedure
    .meta(get('/artifacts', 'Artifacts, newest first (keyset pagination)'))
    .input(ZListArtifactsInput)
    .output(ZArtifactPage)
    .query(({ ctx, input }) => listArtifacts(ctx.svc, input)),
  meta: readerProcedure
    .meta(get('/artifacts/{digest}/meta', 'An artifact by digest (of app_name, else the newest)'))
    .input(ZArtifactMetaInput)
    .output(ZArtifact)
    .query(({ ctx, input }) => findArtifactByDigest(ctx.svc, input)),
  get: readerProcedure
    .meta(get('/apps/{app_name}/artifacts/{digest}', 'One artifact of an app'))
    .input(ZArtifactRef)
    .output(ZArtifact)
    .query(({ ctx, input }) => getArtifact(ctx.svc, input)),
  /** Long-poll until verification settles (at most `timeout_ms`). */
  wait: readerProcedure
    .meta(get('/apps/{app_name}/artifacts/{digest}/wait', 'Long-poll until verification settles'))
    .input(ZWaitArtifactInput)
    .output(ZArtifact)
    .query(({ ctx, input }) => waitArtifact(ctx.svc, input)),
});
