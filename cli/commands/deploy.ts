import { randomUUID } from 'node:crypto';
import { createApi } from '../client';
import { resolveConnection, type CliEnv } from '../config';
import { parseCompressionLevel, packProject, previewPack } from '../deploy/artifact';
import { createDeployment, deploymentFailed, ensureApp, followDeployment, legacyUpload, upload } from '../deploy/remote';
import { call } from '../client';
import { CliError, EXIT } from '../errors';
import { installProductionDeps } from '../install';
import type { Output } from '../output';
import { readProject, resolveAppName } from '../project';
import { writeSbom, type WrittenSbom } from '../sbom/index';
import { readSettings } from '../settings';
import { loadSigningKey, signArtifact } from '../sign';

export interface DeployOptions {
  app?: string;
  format: 'text' | 'json';
  install: boolean;
  wait: boolean;
  cwd: string;
  dryRun?: boolean;
  packOnly?: boolean;
  upload?: boolean;
  out?: string;
  compressionLevel?: string;
  /** false with --no-sbom. */
  sbom?: boolean;
  legacySbom?: boolean;
  legacyUpload?: boolean;
  /** false with --no-cache. */
  cache?: boolean;
}

/**
 * `aether deploy`: resolve -> install -> pack -> (stop here with --pack-only / --no-upload)
 * -> upload -> roll out -> report. Each step is a function over the same options.
 */
export async function deployCommand(opts: DeployOptions, env: CliEnv, out: Output): Promise<number> {
  const project = await readProject(opts.cwd);
  const settings = await readSettings(env, (m) => out.warn(m));
  const app = resolveAppName(project, opts.app, { envApp: env.AETHER_DEFAULT_APP, configApp: settings.default_app });
  const compressionLevel = parseCompressionLevel(opts.compressionLevel);
  // A bad AETHER_SIGNING_KEY fails now, not after minutes of install and packing.
  const seedHex = loadSigningKey(env);
  const remote = !opts.dryRun && !opts.packOnly && opts.upload !== false;
  // Fail on missing credentials before minutes of install and packing, not after.
  const conn = remote ? await resolveConnection(env, (m) => out.warn(m), settings) : null;
  const traceId = randomUUID();
  const api = conn ? createApi(conn, { traceId }) : null;

  if (opts.dryRun) {
    const preview = await previewPack(project.root);
    if (opts.format === 'json') out.json({ dry_run: true, app, files: preview.files, total_size: preview.totalSize, install: opts.install });
    else out.result(`would deploy ${app}: ${preview.files} files, ${preview.totalSize} bytes before install and compression`);
    return EXIT.ok;
  }
  // The app check is a round trip: it runs while dependencies install and the tree packs.
  const appReady = api ? call('checking app', () => ensureApp(api, app, out)) : null;
  appReady?.catch(() => {}); // awaited before the upload; no unhandled rejection meanwhile
  // --pack-only packs the tree as it is; everything else installs production deps first, beside
  // the project (its own node_modules keeps its dev dependencies).
  const installed = opts.install && !opts.packOnly ? await installProductionDeps(project.root, { quiet: opts.format === 'json', cache: opts.cache !== false, env, out }) : null;
  try {
    const packed = await packProject(project.root, { out: opts.out, compressionLevel, modulesRoot: installed?.root }, out);
    // The SBOM is for the user, not the control plane. Building it is ~50 ms of CPU (the
    // CycloneDX library alone), so a deploy writes it while the rollout runs, not before the upload.
    let sbomWritten: Promise<WrittenSbom | null> | undefined;
    const writeSbomOnce = (): Promise<WrittenSbom | null> => {
      if (!sbomWritten) {
        sbomWritten = opts.sbom === false
          ? Promise.resolve(null)
          : writeSbom({ root: project.root, installRoot: installed?.root, manifest: packed.manifestData, artifactPath: packed.artifact, format: opts.legacySbom ? 'legacy' : 'cyclonedx', warn: (m) => out.warn(m) });
        sbomWritten.catch(() => {}); // awaited by artifactJson
      }
      return sbomWritten;
    };
    // Signed before anything is printed, so the JSON's `signature` names the file just written.
    const signature = seedHex ? await signArtifact({ artifactPath: packed.artifact, digest: packed.digest, seedHex }) : null;
    const artifactJson = async () => ({
      artifact: packed.artifact,
      digest: packed.digest,
      size_bytes: packed.sizeBytes,
      manifest: packed.manifest,
      sbom: (await writeSbomOnce())?.path ?? null,
      signature: signature?.path ?? null,
    });
    if (!api) {
      const described = await artifactJson();
      if (opts.format === 'json') out.json(described);
      else out.result(`artifact ${packed.artifact} (${packed.sizeBytes} bytes, sha256 ${packed.digest})`);
      return EXIT.ok;
    }

    await appReady;
    if (opts.legacyUpload && conn?.token) await legacyUpload({ apiBase: conn.apiBase, token: conn.token }, app, packed, out, signature?.signatureHex);
    else {
      const abort = new AbortController();
      const onSigint = () => abort.abort();
      process.once('SIGINT', onSigint);
      try {
        await upload(api, conn!, app, packed, out, { signature: signature?.signatureHex, env, format: opts.format, traceId, signal: abort.signal });
      } finally {
        process.off('SIGINT', onSigint);
      }
    }
    const created = await createDeployment(api, app, packed.digest, out);
    writeSbomOnce();
    const deployment = opts.wait ? await followDeployment(api, created, out) : created;

    const described = await artifactJson();
    if (opts.format === 'json') out.json({ ...described, deployment: { id: deployment.id, status: deployment.status, url: deployment.url } });
    else if (deployment.status === 'running') out.result(`deployed ${app} (${packed.digest.slice(0, 12)}): ${deployment.url}`);
    else out.result(`deployment ${deployment.id} is ${deployment.status}${deployment.failure_reason ? `: ${deployment.failure_reason}` : ''}`);
    if (deployment.status === 'failed') {
      throw deploymentFailed('deployment', deployment, `aether logs --app ${app} shows its output`);
    }
    return EXIT.ok;
  } finally {
    await installed?.dispose();
  }
}
