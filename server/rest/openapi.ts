import type { SchemaObject } from 'openapi3-ts/oas31';
import { generateOpenApiDocument, type OpenAPIObject } from 'trpc-to-openapi';
import { appRouter } from '../trpc/root';

/** Procedures that need no token; their operations say so (`security: []`). */
const PUBLIC_OPERATIONS = new Set(['auth-cliStart', 'auth-cliPoll']);

const ENVELOPE: SchemaObject = {
  type: 'object',
  required: ['code', 'message'],
  properties: { code: { type: 'string', description: 'stable machine code, e.g. not_found, digest_mismatch' }, message: { type: 'string' } },
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
  doc.components = { ...doc.components, schemas: { ...doc.components?.schemas, ErrorEnvelope: ENVELOPE } };
  return doc;
}
