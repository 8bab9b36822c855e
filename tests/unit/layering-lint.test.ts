import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lintLayers } from '../../scripts/lint.mjs';

// A miniature project with one import per rule, each either a break the lint must name or a
// permitted import it must let pass. Built in a temp dir so no other run sees the bad files.
const FILES: Record<string, string> = {
  'tsconfig.json': JSON.stringify({ compilerOptions: { paths: { '@/*': ['./*'] } } }),
  // Permitted: the layers as drawn.
  'app/page.tsx': "import { run } from '../server/services/run';\nexport const Page = () => <main>{run()}</main>;\n",
  'jobs/worker.ts': "import { run } from '@/server/services/run';\nexport const work = run;\n",
  'server/services/run.ts': "import { rows } from '../../db/client';\nexport const run = () => rows;\n",
  'server/trpc/root.ts': "export const appRouter = {};\nexport type AppRouter = typeof appRouter;\n",
  'server/contract/names.ts': "import { ROLES } from '../../db/schema/enums';\nexport const NAMES = ROLES;\n",
  'db/client.ts': 'export const rows = 1;\n',
  'db/schema/enums.ts': "export const ROLES = ['admin'];\n",
  'cli/client.ts':
    "import type { AppRouter } from '../server/trpc/root';\nimport { NAMES } from '@/server/contract/names';\nexport type R = AppRouter;\nexport const n = NAMES;\n",
  // A cycle made only of type imports is no load-time cycle.
  'server/services/type-a.ts': "import type { B } from './type-b';\nexport type A = { b?: B };\n",
  'server/services/type-b.ts': "import type { A } from './type-a';\nexport type B = { a?: A };\n",

  // Breaks, one per rule.
  'server/up.ts': "import { Page } from '../app/page';\nexport const p = Page;\n",
  'server/up-alias.ts': "export { work } from '@/jobs/worker';\n",
  'db/up.ts': "import { run } from '../server/services/run';\nexport const r = run;\n",
  'server/contract/impure.ts': "import { run } from '../services/run';\nexport const r = run;\n",
  'cli/service.ts': "import type { run } from '../server/services/run';\nexport type R = typeof run;\n",
  'cli/router-value.ts': "import { appRouter } from '../server/trpc/root';\nexport const r = appRouter;\n",
  'jobs/skip.ts': "import { rows } from '../db/client';\nexport const r = rows;\n",
  'app/peer.tsx': "import { work } from '../jobs/worker';\nexport const Peer = () => <p>{String(work)}</p>;\n",
  'server/services/cycle-a.ts': "import { b } from './cycle-b';\nexport const a = () => b;\n",
  'server/services/cycle-b.ts': "import { a } from './cycle-a';\nexport const b = () => a;\n",
  'server/missing.ts': "import { gone } from './not-there';\nexport const g = gone;\n",
};

let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'aether-layering-'));
  for (const [file, text] of Object.entries(FILES)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), text);
  }
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('layering lint (npm run lint)', () => {
  it('names every break with its rule and lets the permitted imports pass', async () => {
    const { violations } = await lintLayers({ baseDir: root });
    const found = violations.map((v) => `${v.rule}: ${v.from} -> ${v.to}`).sort();
    expect(found).toEqual(
      [
        'cli-only-contract: cli/service.ts -> server/services/run.ts',
        'cli-router-type-only: cli/router-value.ts -> server/trpc/root.ts',
        'contract-is-pure: server/contract/impure.ts -> server/services/run.ts',
        'db-is-the-bottom: db/up.ts -> server/services/run.ts',
        'db-through-server: jobs/skip.ts -> db/client.ts',
        // A cycle is reported once, at the edge that closes it.
        'no-circular: server/services/cycle-a.ts -> server/services/cycle-b.ts',
        'no-peer-imports: app/peer.tsx -> jobs/worker.ts',
        'no-unresolvable-local: server/missing.ts -> ./not-there',
        'server-not-to-callers: server/up-alias.ts -> jobs/worker.ts',
        'server-not-to-callers: server/up.ts -> app/page.tsx',
      ].sort(),
    );
  });

  it('finds no break in the project itself', async () => {
    const { violations, modules } = await lintLayers();
    expect(violations).toEqual([]);
    // Guards against a vacuous pass: the cruise really read the layers (app/ has .tsx files).
    expect(modules).toBeGreaterThan(300);
  });
});
