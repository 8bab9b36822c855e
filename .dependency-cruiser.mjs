// The layering `npm run lint` enforces (scripts/lint.mjs runs it; see STYLE.md "Dependency
// direction"). Rules match resolved file paths, so a relative import, an `@/` alias and an
// `export … from` are judged alike. Only layering and load-time cycles: no style rules.
//
//   app, jobs ──► server ──► db        cli ──► server/contract + `import type` of the router
//
// Root files (instrumentation*.ts, proxy.ts, next.config.mjs), scripts/ and tests/ wire the
// layers together and are not checked.

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'server-not-to-callers',
      comment: 'server/ is called by app/, cli/ and jobs/ and never imports them.',
      severity: 'error',
      from: { path: '^server/' },
      to: { path: '^(app|cli|jobs)/' },
    },
    {
      name: 'db-is-the-bottom',
      comment: 'db/ (schema, client, migrations) imports nothing of ours above it.',
      severity: 'error',
      from: { path: '^db/' },
      to: { path: '^(server|app|cli|jobs)/' },
    },
    {
      name: 'contract-is-pure',
      comment:
        'server/contract/ is bundled into the CLI: it imports only itself and the status ' +
        'vocabularies of db/schema/enums.ts (plain constants, no driver).',
      severity: 'error',
      from: { path: '^server/contract/' },
      to: { path: '^(server|db|app|cli|jobs)/', pathNot: '^(server/contract/|db/schema/enums\\.ts$)' },
    },
    {
      name: 'cli-only-contract',
      comment: 'cli/ ships alone to laptops: of ours it imports server/contract/ and the AppRouter type only.',
      severity: 'error',
      from: { path: '^cli/' },
      to: { path: '^(server|db|app|jobs)/', pathNot: '^(server/contract/|server/trpc/root\\.ts$)' },
    },
    {
      name: 'cli-router-type-only',
      comment: 'cli/ may name the router type (`import type { AppRouter }`), never load the router.',
      severity: 'error',
      from: { path: '^cli/' },
      to: { path: '^server/trpc/root\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'db-through-server',
      comment: 'app/ and jobs/ reach the database through server/, not around it.',
      severity: 'error',
      from: { path: '^(app|jobs)/' },
      to: { path: '^db/' },
    },
    {
      name: 'no-peer-imports',
      comment: 'app/, cli/ and jobs/ are separate entry points and share code only through server/.',
      severity: 'error',
      from: { path: '^(app|cli|jobs)/' },
      to: { path: '^(app|cli|jobs)/', pathNot: '^$1/' },
    },
    {
      name: 'no-circular',
      comment:
        'A load-time cycle hands one module the other half-initialised. Type-only edges vanish ' +
        'at build time and a dynamic import() runs later, so neither makes a load-time cycle.',
      severity: 'error',
      from: { path: '^(app|cli|jobs|server|db)/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only', 'dynamic-import'] } },
    },
    {
      name: 'no-unresolvable-local',
      comment: 'A relative or @/ import that resolves nowhere would slip past every rule above.',
      severity: 'error',
      from: { path: '^(app|cli|jobs|server|db)/' },
      to: { couldNotResolve: true, path: '^(\\.|@/)' },
    },
  ],
  options: {
    // TypeScript 7 has no JS API, and swc parses .ts and .tsx alike and marks `import type`.
    parser: 'swc',
    // Reads `paths` ("@/*") from tsconfig.json itself (tsconfig-paths), without the compiler.
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|\\.next[^/]*|dist|\\.aether|tests/fixtures)/' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.tsx', '.mts', '.mjs', '.js', '.cjs', '.json'],
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
};
