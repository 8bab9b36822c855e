import { describe, expect, it } from 'vitest';
import { digestOfArtifactUrl } from '../../server/contract/digest';
import { validationCodeOf } from '../../server/contract/errors';
import { logsQueryOf, ZArtifactRef, ZSeedCreateDeploymentInput } from '../../server/contract/schemas';
import { restRouteTemplate } from '../../server/rest/routes';
import { partSizesOf } from '../../server/services/artifacts/multipart.service';
import { appRouter } from '../../server/trpc/root';

const D = 'a'.repeat(64);

describe("the seed's wire contract, pure parts", () => {
  it('a malformed digest is invalid_digest; a missing one and other fields bad_request', () => {
    const issuesOf = (input: unknown) => {
      const r = ZArtifactRef.safeParse(input);
      if (r.success) throw new Error('expected a refusal');
      return r.error.issues;
    };
    for (const digest of ['abc', D.toUpperCase(), `sha256:${D}`, 123]) {
      expect(validationCodeOf(issuesOf({ app_name: 'web', digest })), String(digest)).toBe('invalid_digest');
    }
    expect(validationCodeOf(issuesOf({ app_name: 'web' }))).toBe('bad_request');
    expect(validationCodeOf(issuesOf({ app_name: 'Bad_Name', digest: D }))).toBe('bad_request');
  });

  it("reads the digest out of the seed CLI's artifact_url", () => {
    expect(digestOfArtifactUrl(`artifacts/web/${D}/app.tar.gz`)).toBe(D);
    expect(digestOfArtifactUrl(`https://s3.example/bucket/x?digest=${D}&a=1`)).toBe(D);
    expect(digestOfArtifactUrl('artifacts/web/app.tar.gz')).toBeNull();
    expect(
      ZSeedCreateDeploymentInput.parse({
        app_name: 'web',
        artifact_url: `artifacts/web/${D}/app.tar.gz`,
        dev_hot: true,
      }),
    ).toEqual({
      app_name: 'web',
      digest: D,
      signature: undefined,
    });
    const refused = ZSeedCreateDeploymentInput.safeParse({ app_name: 'web', artifact_url: 'nothing-here' });
    expect(refused.success).toBe(false);
    expect(validationCodeOf(refused.error!.issues)).toBe('invalid_digest');
  });

  it('tail_lines stands for tail; two different values are refused', () => {
    expect(logsQueryOf({ tail_lines: '5', follow: 'true' })).toEqual({ tail: '5', follow: 'true' });
    expect(logsQueryOf({ tail: '5', tail_lines: '5' })).toEqual({ tail: '5' });
    expect(logsQueryOf({ tail: '5', tail_lines: '6' }).tail).not.toMatch(/^\d+$/);
  });

  it('labels requests by route template, literal routes before parameters', () => {
    const routeOf = restRouteTemplate(appRouter);
    expect(routeOf('/artifacts/presign')).toBe('/artifacts/presign');
    expect(routeOf(`/artifacts/${D}/meta`)).toBe('/artifacts/{digest}/meta');
    expect(routeOf('/apps/web/logs')).toBe('/apps/{app_name}/logs');
    expect(routeOf('/deployments/0b4c9f0e-0000-4000-8000-000000000000')).toBe('/deployments/{id}');
    expect(routeOf('/no/such/route')).toBeNull();
  });

  it('part sizes: exact from a declared layout, else an even split', () => {
    expect(partSizesOf(25, 3, 10)).toEqual([10, 10, 5]);
    expect(partSizesOf(30, 3, null)).toEqual([10, 10, 10]);
    expect(partSizesOf(30, 2, 10)).toEqual([15, 15]);
  });
});
