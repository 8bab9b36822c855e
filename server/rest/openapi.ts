import type { SchemaObject } from 'openapi3-ts/oas31';
import { generateOpenApiDocument, type OpenAPIObject } from 'trpc-to-openapi';
import { appRouter } from '../trpc/root';
import { CREATED_PROCEDURES } from './routes';

/** Procedures that need no token; their operations say so (`security: []`). */
const PUBLIC_OPERATIONS = new Set(['auth-cliStart', 'auth-cliPoll']);

const ENVELOPE: SchemaObject = {
  type: 'object',
  required: ['code', 'message'],
  properties: { code: { type: 'string', description: 'stable machine code, e.g. not_found, digest_mismatch' }, message: { type: 'string' } },
};

const query = (name: string, description: string, schema: SchemaObject) => ({ name, in: 'query' as const, required: false, description, schema });

/** `GET /apps/{app_name}/logs` streams, so it is a route of its own (server/http/logs.ts), described here. */
const LOGS_OPERATION = {
  get: {
    operationId: 'deployments-logsStream',
    tags: ['deployments'],
    summary: "An app's output: text lines, or NDJSON {time,source,line} (Accept: application/x-ndjson or format=ndjson); streams with follow",
    parameters: [
      { name: 'app_name', in: 'path' as const, required: true, schema: { type: 'string' } as SchemaObject },
      query('deployment', 'a deployment of the app, also one that was replaced; default: the running one, else the latest', { type: 'string', format: 'uuid' }),
      query('tail', 'entries of history first (0-10000, default 100)', { type: 'integer', minimum: 0, maximum: 10_000 }),
      query('tail_lines', 'the same as tail (the seed CLI\'s name)', { type: 'integer', minimum: 0, maximum: 10_000 }),
      query('follow', 'keep streaming new entries until the client goes away', { type: 'boolean' }),
      query('since', 'only entries newer than this: seconds, a duration (5m, 2h, 1d) or an RFC 3339 time', { type: 'string' }),
      query('container', 'Kubernetes container; the local runtime has one, "app"', { type: 'string' }),
      query('format', 'text (default) or ndjson', { type: 'string', enum: ['text', 'ndjson'] }),
    ],
    responses: {
      '200': {
        description: 'the stream; header x-aether-deployment-id names the deployment read',
        content: { 'text/plain': { schema: { type: 'string' } as SchemaObject }, 'application/x-ndjson': { schema: { type: 'string' } as SchemaObject } },
      },
      default: { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorEnvelope' } } } },
    },
  },
};

/**
 * The OpenAPI document, generated from the same procedure definitions the REST routes serve
 * (never written by hand), with the seed's global `bearer_auth` scheme and error envelope.
 */
export function buildOpenApiDocument(baseUrl: string): OpenAPIObject {
  const doc = generateOpenApiDocument(appRouter, {
    title: 'Aether control plane',
    version: '0.1.0',
    baseUrl,
    securitySchemes: { bearer_auth: { type: 'http', scheme: 'bearer' } },
  });
  doc.security = [{ bearer_auth: [] }];
  // Operations of public procedures (CLI login start/poll) override the global scheme.
  for (const item of Object.values(doc.paths ?? {})) {
    for (const op of Object.values(item as Record<string, { security?: unknown[] } | undefined>)) {
      if (op && typeof op === 'object' && 'responses' in op && op.security === undefined && PUBLIC_OPERATIONS.has((op as { operationId?: string }).operationId ?? '')) op.security = [];
    }
  }
  // The REST face answers these with 201 (handler.ts): the document says so.
  const created = new Set([...CREATED_PROCEDURES].map((p) => p.replace(/\./g, '-')));
  for (const item of Object.values(doc.paths ?? {})) {
    const post = (item as { post?: { operationId?: string; responses?: Record<string, unknown> } }).post;
    if (post?.responses?.['200'] && created.has(post.operationId ?? '')) {
      const { '200': ok, ...rest } = post.responses;
      post.responses = { '201': { ...(ok as object), description: 'Created' }, ...rest };
    }
  }
  doc.components = { ...doc.components, schemas: { ...doc.components?.schemas, ErrorEnvelope: ENVELOPE } };
  doc.paths = { ...doc.paths, '/apps/{app_name}/logs': LOGS_OPERATION };
  return doc;
}
