import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { aliasFor, rewrite } from '../../scripts/alias-imports.mjs';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FILE = path.join(ROOT, 'server/services/keys/keys.service.ts');

describe('alias-imports codemod', () => {
  it('aliases every module reference that climbs two levels, in every syntax, and nothing else', () => {
    const before = [
      '// Ünïcode before the imports shifts UTF-8 byte offsets away from string offsets.',
      "import type { Queryable } from '../../../db/client';",
      'import { AppError } from "../../errors";',
      "import '../../side-effect';",
      "export * from '../../contract/keys';",
      "export { x } from '../../contract/x.js';",
      "import { near } from '../near';",
      "import { here } from './here';",
      "import { z } from 'zod';",
      "const lazy = () => import('../../queues/producers');",
      "type T = import('../../contract/outputs').TApp;",
      "vi.mock('../../storage/fs.driver');",
      "const fixture = \"import { a } from '../../not/an/import'\";",
      "// import { b } from '../../commented/out';",
      "import outside from '../../../../elsewhere';",
    ].join('\n');
    const { text, count } = rewrite(FILE, before);
    expect(count).toBe(8);
    expect(text.split('\n')).toEqual([
      '// Ünïcode before the imports shifts UTF-8 byte offsets away from string offsets.',
      "import type { Queryable } from '@/db/client';",
      'import { AppError } from "@/server/errors";',
      "import '@/server/side-effect';",
      "export * from '@/server/contract/keys';",
      "export { x } from '@/server/contract/x.js';",
      "import { near } from '../near';",
      "import { here } from './here';",
      "import { z } from 'zod';",
      "const lazy = () => import('@/server/queues/producers');",
      "type T = import('@/server/contract/outputs').TApp;",
      "vi.mock('@/server/storage/fs.driver');",
      "const fixture = \"import { a } from '../../not/an/import'\";",
      "// import { b } from '../../commented/out';",
      "import outside from '../../../../elsewhere';",
    ]);
  });

  it('parses .tsx and leaves a file without climbing imports as it was', () => {
    const tsx = "import { ErrorPanel } from '../../_components/error-panel';\nexport const P = () => <ErrorPanel />;\n";
    const page = path.join(ROOT, 'app/console/apps/page.tsx');
    expect(rewrite(page, tsx).text).toBe("import { ErrorPanel } from '@/app/_components/error-panel';\nexport const P = () => <ErrorPanel />;\n");
    expect(rewrite(FILE, "import { a } from '../a';\n")).toEqual({ text: "import { a } from '../a';\n", count: 0 });
  });

  it('never aliases into node_modules or out of the project', () => {
    expect(aliasFor(path.join(ROOT, 'tests/unit/x.test.ts'), '../../node_modules/zod')).toBeNull();
    expect(aliasFor(path.join(ROOT, 'tests/x.test.ts'), '../../tmp/file')).toBeNull();
    expect(aliasFor(path.join(ROOT, 'tests/unit/x.test.ts'), '../..')).toBeNull();
  });
});
