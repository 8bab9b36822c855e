import { buildApp } from 'fauxqs';

/** S3's own limit for one PUT (5 GiB); fauxqs keeps bodies in memory, so tests stay far below. */
const S3_MAX_PUT_BYTES = 5 * 1024 ** 3;

/**
 * fauxqs as the tests' S3-protocol server, with S3's body limit. fauxqs caps every body at
 * 11 MiB (its Fastify `bodyLimit`), which real S3 does not: a single PUT of a 64 MiB artifact
 * would answer 413. Its S3 routes parse bodies with the wildcard buffer parser, and a parser's
 * own limit overrides the server's, so re-registering that parser lifts the cap for S3 bodies
 * only (SQS and SNS keep fauxqs' limits).
 */
export function buildS3TestServer(): ReturnType<typeof buildApp> {
  const app = buildApp({ logger: false });
  app.removeContentTypeParser('*');
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: S3_MAX_PUT_BYTES }, (_req: unknown, body: Buffer, done: (err: null, body: Buffer) => void) => done(null, body));
  return app;
}
