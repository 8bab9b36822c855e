import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { collectFiles, sortEntries } from '../../cli/pack/collect.js';
import { ARTIFACT_FILE_RE } from '../../cli/pack/ignore-rules.js';
import { DIGEST_RE, isDigest } from '../../server/contract/digest.js';
import { useTempTrees, type TreeSpec } from '../support/tree.js';

const { tree } = useTempTrees();

async function collectedPaths(spec: TreeSpec): Promise<string[]> {
  const root = await tree(spec);
  return (await collectFiles(root)).map((e) => e.path);
}

/** Only the files: directory entries are implied by them in these assertions. */
async function collectedFiles(spec: TreeSpec): Promise<string[]> {
  const root = await tree(spec);
  return (await collectFiles(root)).filter((e) => e.type !== 'directory').map((e) => e.path);
}

describe('.aetherignore', () => {
  it('applies negation, anchoring and directory-only patterns like git', async () => {
    const files = await collectedFiles({
      '.aetherignore': ['# comment', '*.log', '!keep.log', '/build', 'tmp/', ''].join('\n'),
      'debug.log': '',
      'keep.log': '',
      'sub/deep.log': '',
      'sub/keep.log': '',
      'build/out.js': '',
      'sub/build/out.js': '',
      'tmp/scratch': '',
      'sub/tmp/scratch': '',
      'other/tmp': 'a file named tmp is not a directory',
      'index.js': '',
    });
    expect(files).toEqual([
      '.aetherignore',
      'index.js',
      'keep.log',
      'other/tmp',
      'sub/build/out.js',
      'sub/keep.log',
    ]);
  });

  it('never re-includes a file whose parent directory is excluded', async () => {
    const paths = await collectedPaths({
      '.aetherignore': 'secret/\n!secret/allowed.txt\ncache\n!cache/keep.txt\n',
      'secret/allowed.txt': '',
      'secret/nested/deep.txt': '',
      'cache/keep.txt': '',
      'app.js': '',
    });
    expect(paths).toEqual(['.aetherignore', 'app.js']);
  });

  it('matches case-sensitively whatever the platform', async () => {
    const files = await collectedFiles({ '.aetherignore': '*.LOG\n', 'a.log': '', 'b.LOG': '' });
    expect(files).toEqual(['.aetherignore', 'a.log']);
  });
});

describe('built-in excludes', () => {
  const digest = randomBytes(32).toString('hex');

  it('drops VCS data, our data dir, Finder litter and leftover temp files at any depth', async () => {
    const files = await collectedFiles({
      '.aetherignore': '!.git\n!.git/config\n',
      '.git/config': '[remote]',
      '.git/objects/ab/cdef': '',
      '.aether/state.json': '{}',
      '.DS_Store': '',
      'src/.DS_Store': '',
      'node_modules/dep/.git/HEAD': 'ref',
      'node_modules/dep/index.js': '',
      '.aether-pack-0123456789abcdef.tmp': 'half an artifact',
      'index.js': '',
    });
    expect(files).toEqual(['.aetherignore', 'index.js', 'node_modules/dep/index.js']);
  });

  it('drops previous artifacts and their sidecars at the root only', async () => {
    const files = await collectedFiles({
      [`app-${digest}.tar.gz`]: '',
      [`app-${digest}.tar.gz.manifest.json`]: '',
      [`app-${digest}.tar.gz.sbom.json`]: '',
      [`app-${digest}.tar.gz.sig`]: '',
      [`app-${digest.toUpperCase()}.tar.gz`]: 'not a digest',
      [`app-${digest}.tar.gz.bak`]: '',
      [`fixtures/app-${digest}.tar.gz`]: '',
      'app-foo.js': '',
    });
    expect(files).toEqual(
      sortEntries(
        [
          `app-${digest.toUpperCase()}.tar.gz`,
          `app-${digest}.tar.gz.bak`,
          'app-foo.js',
          `fixtures/app-${digest}.tar.gz`,
        ].map((path) => ({ path })),
      ).map((e) => e.path),
    );
  });

  it('uses the contract digest format', () => {
    expect(isDigest(digest)).toBe(true);
    expect(ARTIFACT_FILE_RE.source).toContain(DIGEST_RE.source.slice(1, -1));
    expect(ARTIFACT_FILE_RE.test(`app-${digest}.tar.gz`)).toBe(true);
    expect(ARTIFACT_FILE_RE.test(`app-${digest.slice(1)}.tar.gz`)).toBe(false);
  });
});

describe('collectFiles', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  it('keeps node_modules and symlinks (not followed), and skips sockets', async () => {
    const root = await tree({
      'node_modules/x/cli.js': { content: '#!/usr/bin/env node\n', mode: 0o755 },
      'node_modules/.bin/x': { symlink: '../x/cli.js' },
      'linked-dir': { symlink: 'node_modules/x' },
      'dangling': { symlink: '../nowhere' },
    });
    const listening = createServer();
    server = listening;
    await new Promise<void>((resolve) => listening.listen(join(root, 'app.sock'), resolve));

    expect(await collectFiles(root)).toEqual([
      { type: 'symlink', path: 'dangling', target: '../nowhere' },
      { type: 'symlink', path: 'linked-dir', target: 'node_modules/x' },
      { type: 'directory', path: 'node_modules' },
      { type: 'directory', path: 'node_modules/.bin' },
      { type: 'symlink', path: 'node_modules/.bin/x', target: '../x/cli.js' },
      { type: 'directory', path: 'node_modules/x' },
      { type: 'file', path: 'node_modules/x/cli.js', size: 20, executable: true },
    ]);
  });

  it('sorts by UTF-8 bytes, not UTF-16 code units', () => {
    // U+FF5E is EF BD 9E in UTF-8 but sorts after the surrogate pair of U+1F600 in UTF-16.
    const sorted = sortEntries([{ path: '\u{1F600}' }, { path: '\uFF5E' }, { path: 'a-b' }, { path: 'a/b' }]);
    expect(sorted.map((e) => e.path)).toEqual(['a-b', 'a/b', '\uFF5E', '\u{1F600}']);
  });
});

describe('.gitignore fallback and built-in excludes', () => {
  it('uses .gitignore when there is no .aetherignore, but always ships node_modules', async () => {
    const files = await collectedFiles({
      '.gitignore': ['node_modules/', '*.log', 'coverage/', '.env'].join('\n'),
      'index.js': '',
      'debug.log': '',
      '.env': 'SECRET=1',
      'coverage/lcov.info': '',
      'node_modules/ms/index.js': '',
      'node_modules/ms/debug.log': 'shipped: package contents are not the project',
    });
    expect(files).toEqual(['.gitignore', 'index.js', 'node_modules/ms/debug.log', 'node_modules/ms/index.js']);
  });

  it('ignores .gitignore when .aetherignore exists (a build dir git ignores can ship)', async () => {
    const files = await collectedFiles({
      '.gitignore': 'dist/\n',
      '.aetherignore': '*.map\n',
      'dist/app.js': '',
      'dist/app.js.map': '',
    });
    expect(files).toEqual(['.aetherignore', '.gitignore', 'dist/app.js']);
  });

  it('never ships the CLI signing key or the install-cache marker', async () => {
    const files = await collectedFiles({
      'aether-signing.key': 'seed',
      'aether-signing.key.pub': 'pub',
      'node_modules/.aether-install-key': 'key',
      'node_modules/x/index.js': '',
      'sub/aether-signing.key': 'a user file of that name deeper down is not ours',
    });
    expect(files).toEqual(['node_modules/x/index.js', 'sub/aether-signing.key']);
  });
});
