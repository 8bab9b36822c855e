import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadEnv } from '../../server/env';
import { KUBERNETES_RBAC_RULES } from '../../server/runtime/kubernetes/rbac';
import { ROOT, SECRET_ENV_RE, isControlPlaneEnvName, readRepoFile, readYaml } from '../support/packaging';

/**
 * The Helm chart without Helm: what can be checked from its files alone. The rendered chart is
 * checked in chart-render.test.ts when a helm binary is available.
 */
const CHART = 'charts/aether';
const TEMPLATES = path.join(CHART, 'templates');

interface Values {
  image: { repository: string; tag: string };
  config: Record<string, unknown>;
  secrets: Record<string, unknown>;
  existingSecret: string;
  runtime: { namespace: string };
  web: { port: number };
  [key: string]: unknown;
}
const values = readYaml<Values>(`${CHART}/values.yaml`);
const templateFiles = readdirSync(path.join(ROOT, TEMPLATES)).filter((f) => /\.(ya?ml|tpl|txt)$/.test(f));
const templates = Object.fromEntries(templateFiles.map((f) => [f, readRepoFile(path.join(TEMPLATES, f))]));

/** Every (apiGroup, resource, verb) a list of RBAC rules grants. */
function permissions(rules: ReadonlyArray<{ apiGroups: string[]; resources: string[]; verbs: string[] }>): string[] {
  const out = new Set<string>();
  for (const r of rules) for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) out.add(`${g}/${res}:${v}`);
  return [...out].sort();
}

/** Does `dotted` (a.b.c) name a key of `obj`, whatever its value (empty strings and maps count)? */
function hasPath(obj: unknown, dotted: string): boolean {
  let cur: unknown = obj;
  for (const key of dotted.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, key)) return false;
    cur = (cur as Record<string, unknown>)[key];
  }
  return true;
}

/** The fixed keys of the ConfigMap's data (the ones written out, not ranged over `config`). */
function fixedConfigMapKeys(): string[] {
  const data = templates['configmap.yaml']!.split('\ndata:\n')[1] ?? '';
  return [...data.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!);
}

describe('chart metadata and values', () => {
  it('Chart.yaml is a v2 application chart whose appVersion is the package version', () => {
    const chart = readYaml<Record<string, string>>(`${CHART}/Chart.yaml`);
    const pkg = JSON.parse(readRepoFile('package.json')) as { version: string };
    expect(chart).toMatchObject({ apiVersion: 'v2', name: 'aether', type: 'application', appVersion: pkg.version });
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(values.image.repository).toBeTruthy();
  });

  it('names only variables the control plane reads, secrets apart from plain settings', () => {
    const configNames = [...Object.keys(values.config), ...fixedConfigMapKeys()];
    const secretNames = Object.keys(values.secrets);
    expect(configNames.filter((n) => !isControlPlaneEnvName(n))).toEqual([]);
    expect(secretNames.filter((n) => !isControlPlaneEnvName(n))).toEqual([]);
    expect(configNames.filter((n) => SECRET_ENV_RE.test(n))).toEqual([]);
    expect(secretNames.filter((n) => !SECRET_ENV_RE.test(n))).toEqual([]);
    // What every install needs; the templates fail without them (chart-render.test.ts).
    expect(secretNames).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'AETHER_API_TOKENS', 'AETHER_RUNTIME_FETCH_SECRET']));
    // A secret value committed in values.yaml would ship with the chart.
    expect(Object.entries(values.secrets).filter(([, v]) => v !== '')).toEqual([]);
    expect(values.existingSecret).toBe('');
  });

  it('defaults parse with server/env.ts as a separate web + worker on Kubernetes and S3', () => {
    const plain = Object.fromEntries(Object.entries(values.config).filter(([, v]) => v !== '').map(([k, v]) => [k, String(v)]));
    const env = loadEnv({
      ...plain,
      AETHER_WORKERS: 'off',
      AETHER_NAMESPACE: values.runtime.namespace,
      PORT: String(values.web.port),
      DATABASE_URL: 'postgres://aether:pw@postgres:5432/aether',
      REDIS_URL: 'redis://redis:6379',
      AETHER_API_TOKENS: 'tok:admin',
      AETHER_RUNTIME_FETCH_SECRET: 'f'.repeat(32),
    });
    expect(env).toMatchObject({ AETHER_RUNTIME: 'kubernetes', AETHER_STORAGE_MODE: 's3', AETHER_WORKERS: 'off' });
    // The chart's apps namespace is the control plane's own default.
    expect(values.runtime.namespace).toBe(loadEnv({}).AETHER_NAMESPACE);
  });
});

describe('chart templates', () => {
  it('has the objects the issue asks for', () => {
    for (const f of ['web-deployment.yaml', 'worker-deployment.yaml', 'migrate-job.yaml', 'service.yaml', 'ingress.yaml', 'configmap.yaml', 'secret.yaml', 'serviceaccount.yaml', 'role.yaml', 'networkpolicy.yaml', 'servicemonitor.yaml', 'NOTES.txt', '_helpers.tpl']) {
      expect(existsSync(path.join(ROOT, TEMPLATES, f)), f).toBe(true);
    }
  });

  it.each(templateFiles)('%s: balanced actions and blocks', (file) => {
    const text = templates[file]!;
    expect(text.split('{{').length, 'opening vs closing braces').toBe(text.split('}}').length);
    const opens = text.match(/\{\{-?\s*(if|with|range|define)\b/g) ?? [];
    const ends = text.match(/\{\{-?\s*end\s*-?\}\}/g) ?? [];
    expect(ends.length, 'if/with/range/define vs end').toBe(opens.length);
  });

  it('reads only values that values.yaml defines', () => {
    const missing: string[] = [];
    for (const [file, text] of Object.entries(templates)) {
      for (const m of text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
        const p = m[1]!.slice(1);
        if (!hasPath(values, p)) missing.push(`${file}: .Values.${p}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('includes only helpers _helpers.tpl defines, and defines none it never uses', () => {
    const defined = new Set([...templates['_helpers.tpl']!.matchAll(/define "([^"]+)"/g)].map((m) => m[1]!));
    const used = new Set(Object.values(templates).flatMap((t) => [...t.matchAll(/include "([^"]+)"/g)].map((m) => m[1]!)));
    expect([...used].filter((u) => !defined.has(u))).toEqual([]);
    expect([...defined].filter((d) => !used.has(d))).toEqual([]);
  });

  it('overrides the image arguments, never its command, so tini stays PID 1', () => {
    const all = Object.values(templates).join('\n');
    expect(all).not.toMatch(/^\s*command:/m);
    const args = [...all.matchAll(/args: (\[.*\])/g)].map((m) => JSON.parse(m[1]!) as string[]);
    expect(args).toEqual(expect.arrayContaining([['node', '--import', 'tsx', 'jobs/main.ts'], ['node', '--import', 'tsx', 'jobs/migrate.ts']]));
    for (const a of args) expect(existsSync(path.join(ROOT, a.at(-1)!)), a.join(' ')).toBe(true);
  });

  it('runs migrations as a pre-install/pre-upgrade hook, its Secret created before the Job', () => {
    const docs = templates['migrate-job.yaml']!.split(/^---$/m);
    const annotations = (doc: string) => Object.fromEntries([...doc.matchAll(/^\s+(helm\.sh\/hook[a-z-]*): "?([^"\n]+)"?$/gm)].map((m) => [m[1]!, m[2]!]));
    const [secret, job] = docs.map(annotations);
    expect(docs[1]).toMatch(/kind: Job/);
    for (const a of [secret!, job!]) {
      expect(a['helm.sh/hook']).toBe('pre-install,pre-upgrade');
      expect(a['helm.sh/hook-delete-policy']).toContain('before-hook-creation');
    }
    expect(Number(secret!['helm.sh/hook-weight'])).toBeLessThan(Number(job!['helm.sh/hook-weight']));
  });

  it("grants in the apps namespace exactly the Kubernetes driver's RBAC rules", () => {
    const role = templates['role.yaml']!.split(/^---$/m).find((d) => /^kind: Role$/m.test(d))!;
    expect(role).toMatch(/^ {2}namespace: \{\{ \.Values\.runtime\.namespace \}\}$/m);
    const rulesBlock = role.slice(role.indexOf('\nrules:\n'));
    // Literal YAML: what the test reads is what Kubernetes gets.
    expect(rulesBlock).not.toContain('{{');
    const rules = (parse(rulesBlock) as { rules: Array<Record<string, string[]>> }).rules;
    for (const r of rules) expect(Object.keys(r).sort()).toEqual(['apiGroups', 'resources', 'verbs']);
    expect(permissions(rules as never)).toEqual(permissions(KUBERNETES_RBAC_RULES));
    const binding = templates['role.yaml']!.split(/^---$/m).find((d) => /^kind: RoleBinding$/m.test(d))!;
    expect(binding).toMatch(/^ {2}namespace: \{\{ \.Values\.runtime\.namespace \}\}$/m);
  });
});
