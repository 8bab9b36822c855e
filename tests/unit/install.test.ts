import { describe, expect, it } from 'vitest';
import { inPlaceReason } from '../../cli/install.js';

describe('inPlaceReason', () => {
  it('stages a plain project: registry dependencies, ordinary scripts', () => {
    expect(inPlaceReason({ dependencies: { ms: '2.1.3', '@scope/x': '^1.0.0' }, scripts: { start: 'node index.js', test: 'vitest' } })).toBeNull();
    // A dev dependency on a local path is not installed for production anyway.
    expect(inPlaceReason({ devDependencies: { tools: 'file:../tools' } })).toBeNull();
  });

  it('installs in place when the install reads files beyond package.json and the lockfile', () => {
    expect(inPlaceReason({ workspaces: ['packages/*'] })).toMatch(/workspaces/);
    expect(inPlaceReason({ dependencies: { lib: 'file:./lib' } })).toMatch(/dependency lib points into the project \(file:\.\/lib\)/);
    expect(inPlaceReason({ optionalDependencies: { w: 'workspace:*' } })).toMatch(/dependency w/);
    expect(inPlaceReason({ dependencies: { ms: '2.1.3' }, scripts: { postinstall: 'prisma generate' } })).toMatch(/"postinstall" script/);
  });
});
