// `npm run lint`: the layering rules of .dependency-cruiser.mjs over app/, cli/, jobs/, server/
// and db/. Prints each break with the rule that forbids it and exits 1 on any.
//
// Through dependency-cruiser's API rather than its `depcruise` binary: the binary refuses to
// start on node 20, which this project still supports, while the API runs fine on it (the
// layering test proves that on every run).
import { cruise, format } from 'dependency-cruiser';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import config from '../.dependency-cruiser.mjs';

export const LAYERS = ['app', 'cli', 'jobs', 'server', 'db'];

/**
 * Cruises `baseDir`'s layer folders with the project's rules.
 * @param {{ baseDir?: string, targets?: string[] }} [opts]
 * @returns {Promise<{ violations: { from: string, to: string, rule: string }[], modules: number, report: string }>}
 */
export async function lintLayers({ baseDir = process.cwd(), targets } = {}) {
  const roots = (targets ?? LAYERS).filter((t) => existsSync(path.join(baseDir, t)));
  const tsConfig = path.join(baseDir, 'tsconfig.json');
  const { output } = await cruise(
    roots,
    { ...config.options, baseDir, ruleSet: { forbidden: config.forbidden }, validate: true },
    { tsConfig: existsSync(tsConfig) ? tsConfig : undefined },
  );
  const violations = output.summary.violations.map((v) => ({ from: v.from, to: v.to, rule: v.rule.name }));
  const report = violations.length ? (await format(output, { outputType: 'err' })).output : '';
  return { violations, modules: output.summary.totalCruised, report };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { violations, modules, report } = await lintLayers();
  if (violations.length === 0) {
    console.log(`lint: layering ok (${modules} modules)`);
  } else {
    process.stdout.write(report);
    console.log(`lint: ${violations.length} layering break${violations.length === 1 ? '' : 's'} (rules in .dependency-cruiser.mjs)`);
    process.exitCode = 1;
  }
}
