import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, SECRET_ENV_RE, readRepoFile, readYaml } from '../support/packaging';

/**
 * The control-plane Dockerfile, parsed into stages and instructions (no Docker engine here to
 * build it): what the image runs as, under which PID 1, from which files.
 */
interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | null;
  steps: Instruction[];
}

function parseDockerfile(text: string): { globalArgs: Instruction[]; stages: Stage[] } {
  const logical = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const globalArgs: Instruction[] = [];
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, op, args] = /^(\S+)\s+(.*)$/.exec(line)!;
    const step = { op: op!.toUpperCase(), args: args!.replace(/\s+/g, ' ') };
    if (step.op === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(step.args)!;
      stages.push({ from: m[1]!, name: m[2] ?? null, steps: [] });
    } else if (stages.length === 0) {
      globalArgs.push(step);
    } else {
      stages.at(-1)!.steps.push(step);
    }
  }
  return { globalArgs, stages };
}

const { globalArgs, stages } = parseDockerfile(readRepoFile('Dockerfile'));
const final = stages.at(-1)!;
const byName = (name: string) => stages.find((s) => s.name === name)!;
const stepsOf = (s: Stage, op: string) => s.steps.filter((i) => i.op === op);
/** A stage and the stages it is built FROM, nearest first. */
const lineage = (s: Stage): Stage[] => {
  const parent = stages.find((p) => p.name === s.from);
  return parent ? [s, ...lineage(parent)] : [s];
};
const dockerignore = readRepoFile('.dockerignore')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const ignored = (rel: string) =>
  dockerignore.some((p) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/|$)`).test(rel));

describe('control-plane Dockerfile', () => {
  it('builds on Node 20 slim in every stage', () => {
    const nodeImage = globalArgs.find((a) => a.op === 'ARG' && a.args.startsWith('NODE_IMAGE='))!;
    expect(nodeImage.args).toMatch(/^NODE_IMAGE=node:20[-.\w]*slim$/);
    for (const s of stages) expect(['${NODE_IMAGE}', ...stages.map((p) => p.name)]).toContain(s.from);
  });

  it('runs as a numeric non-root user, with tini from Debian as PID 1', () => {
    const users = stepsOf(final, 'USER');
    const user = users.at(-1)!.args;
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    // Nothing runs as root after the switch.
    expect(final.steps.slice(final.steps.indexOf(users.at(-1)!)).filter((i) => i.op === 'RUN')).toEqual([]);
    const install = stepsOf(final, 'RUN').find((r) => /apt-get install\b.*\btini\b/.test(r.args));
    expect(install, 'tini installed with apt in the final stage').toBeDefined();
    expect(JSON.parse(stepsOf(final, 'ENTRYPOINT').at(-1)!.args)).toEqual(['/usr/bin/tini', '--']);
    expect(JSON.parse(stepsOf(final, 'CMD').at(-1)!.args)).toEqual(['node', '--max-semi-space-size=64', '--import', 'tsx', 'server/http/main.ts', '-H', '0.0.0.0']);
  });

  it('bakes no secret into the image', () => {
    const vars = stages.flatMap((s) => [...stepsOf(s, 'ENV'), ...stepsOf(s, 'ARG')]).concat(globalArgs);
    const names = vars.flatMap((i) => [...i.args.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1]!));
    expect(names.length).toBeGreaterThan(3);
    expect(names.filter((n) => SECRET_ENV_RE.test(n))).toEqual([]);
    expect(dockerignore).toEqual(expect.arrayContaining(['.env', '.env.*', '.git', '.aether', 'node_modules', '*.key']));
  });

  it('installs from the committed lockfile with npm install (npm ci refuses it), production deps only in the image', () => {
    const all = stages.flatMap((s) => s.steps);
    expect(all.filter((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args))).toEqual([]);
    const deps = stages.find((s) => s.steps.some((i) => i.op === 'RUN' && /\bnpm install\b/.test(i.args)))!;
    const installAt = deps.steps.findIndex((i) => i.op === 'RUN' && /\bnpm install\b/.test(i.args));
    const copiedBefore = deps.steps.slice(0, installAt).filter((i) => i.op === 'COPY').map((i) => i.args);
    expect(copiedBefore.join(' ')).toMatch(/package\.json package-lock\.json/);

    const modules = stepsOf(final, 'COPY').find((i) => /node_modules/.test(i.args))!;
    const source = byName(/--from=(\S+)/.exec(modules.args)![1]!);
    const pruned = lineage(source).some((s) => s.steps.some((i) => i.op === 'RUN' && /npm (prune|install) .*--omit=dev/.test(i.args)));
    expect(pruned, 'node_modules of the image come from a stage that dropped dev dependencies').toBe(true);
    // Sources go in by name, never the whole context.
    expect(stepsOf(final, 'COPY').filter((i) => /^\.\s/.test(i.args))).toEqual([]);
  });

  it('builds the Next.js app and the CLI bundle, and ships their output', () => {
    const build = stepsOf(byName('build'), 'RUN').map((r) => r.args).join(' ');
    expect(build).toContain('node scripts/build-cli.mjs');
    expect(build).toContain('next build');
    const copies = stepsOf(final, 'COPY').map((c) => c.args);
    expect(copies).toEqual(expect.arrayContaining(['--from=build /src/.next ./.next', '--from=build /src/dist/cli ./dist/cli']));
  });

  it('copies from the context only files that exist and .dockerignore lets through, enough to run every command', () => {
    const fromContext = stepsOf(final, 'COPY')
      .filter((c) => !c.args.startsWith('--from'))
      .flatMap((c) => c.args.split(' ').slice(0, -1));
    for (const src of fromContext) {
      expect(existsSync(path.join(ROOT, src)), src).toBe(true);
      expect(ignored(src), `${src} is excluded by .dockerignore`).toBe(false);
    }
    for (const needed of ['package.json', 'package-lock.json', 'app', 'server', 'db', 'jobs', 'cli', 'scripts', 'next.config.mjs', 'tsconfig.json']) {
      expect(ignored(needed), needed).toBe(false);
    }
    // The worker and migration commands of the chart and compose run files the image has.
    const compose = readYaml<{ services: Record<string, { command?: string[] }> }>('docker-compose.yml');
    for (const svc of ['worker', 'migrate']) {
      const script = compose.services[svc]!.command!.at(-1)!;
      expect(fromContext.some((dir) => script.startsWith(`${dir}/`)), script).toBe(true);
    }
    expect(fromContext).toContain('db');
  });

  it('prepares the writable paths the chart mounts, owned by the runtime user', () => {
    const env = stepsOf(final, 'ENV').map((e) => e.args).join(' ');
    expect(env).toMatch(/AETHER_DATA_DIR=\/data\b/);
    expect(stepsOf(final, 'WORKDIR').at(-1)!.args).toBe('/app');
    const user = stepsOf(final, 'USER').at(-1)!.args;
    const prep = stepsOf(final, 'RUN').find((r) => r.args.includes('mkdir'))!.args;
    expect(prep).toContain('/data');
    expect(prep).toContain('/app/.next/cache');
    expect(prep).toContain(`chown ${user} /data /app/.next/cache`);
    const web = readRepoFile('charts/aether/templates/web-deployment.yaml');
    expect(web).toContain('mountPath: /app/.next/cache');
    expect(web).toContain('mountPath: /data');
  });
});
