import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Command } from 'commander';
import { readSecretValue } from '../../cli/app-config/secret-input';
import { parseAssignments, parseDotenv, splitAssignment, toVars, valueFromStdin } from '@/cli/app-config/vars';
import { describeChanges } from '../../cli/commands/config';
import { parseTimeFlag } from '../../cli/commands/audit';
import { bashCompletion } from '../../cli/completions';
import { CliError, EXIT } from '../../cli/errors';
import { buildProgram } from '../../cli/main';

/** What commander parsed for the (sub)command `argv` names; nothing is run. */
async function parsed(argv: string[]): Promise<{ args: string[]; opts: Record<string, unknown> }> {
  const program = buildProgram(async () => {}, {});
  await program.parseAsync(['node', 'aether', ...argv]);
  let cmd: Command = program;
  for (const word of argv) {
    const sub = cmd.commands.find((c) => c.name() === word);
    if (sub) cmd = sub;
  }
  return { args: cmd.args, opts: cmd.opts() };
}

function usageError(fn: () => unknown): CliError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(EXIT.usage);
    return err as CliError;
  }
  throw new Error('expected a usage error');
}

describe('aether config: KEY=VALUE arguments', () => {
  it('splits at the first "=": values keep theirs, and may be empty', () => {
    expect(splitAssignment('DATABASE_URL=postgres://u:p@h/db?ssl=true')).toEqual({ name: 'DATABASE_URL', value: 'postgres://u:p@h/db?ssl=true' });
    expect(splitAssignment('EMPTY=')).toEqual({ name: 'EMPTY', value: '' });
    expect(splitAssignment('B64=YWJj==')).toEqual({ name: 'B64', value: 'YWJj==' });
    expect(splitAssignment('BARE')).toEqual({ name: 'BARE', value: null });
  });

  it('a missing "=" is a usage error naming the key; with --secret one bare key reads stdin', () => {
    expect(usageError(() => parseAssignments(['A=1', 'SECRET_THING'], { secret: false })).message).toBe('SECRET_THING: expected KEY=VALUE');
    expect(parseAssignments(['TOKEN'], { secret: true })).toEqual([{ name: 'TOKEN', value: null }]);
    expect(usageError(() => parseAssignments(['A', 'B'], { secret: true })).message).toContain('only one secret');
    expect(usageError(() => parseAssignments([], { secret: false })).message).toContain('nothing to set');
    // A bare word that is no name is likely a value given without its KEY=: it is not echoed.
    const unnamed = usageError(() => parseAssignments(['A=1', 'p@ssw0rd!'], { secret: true }));
    expect(unnamed.message).toBe('argument 2 is not KEY=VALUE');
  });

  it('refuses bad and reserved names and repeats, naming the key and never the value', () => {
    const cases: Array<[string, string]> = [
      ['1ABC=hunter2', 'is not a POSIX name'],
      ['MY-VAR=hunter2', 'is not a POSIX name'],
      ['PORT=hunter2', 'reserved'],
      ['AETHER_TOKEN=hunter2', 'reserved'],
      ['=hunter2', 'empty'],
    ];
    for (const [arg, problem] of cases) {
      const err = usageError(() => parseAssignments([arg], { secret: false }));
      expect(err.message).toContain(problem);
      expect(err.message).not.toContain('hunter2');
    }
    const twice = usageError(() => parseAssignments(['A=hunter2', 'A=other'], { secret: false }));
    expect(twice.message).toBe('A is given twice');
  });

  it('values: a NUL byte or more than 32 KiB is refused by name, never quoted', () => {
    const nul = usageError(() => toVars([['KEY', 'hunter2\0x']]));
    expect(nul.message).toContain('KEY');
    expect(nul.message).not.toContain('hunter2');
    const big = usageError(() => toVars([['BIG', 'h'.repeat(32 * 1024 + 1)]]));
    expect(big.message).toMatch(/BIG is 32769 bytes; at most 32768/);
    expect(toVars([['OK', 'h'.repeat(32 * 1024)]]).OK).toHaveLength(32 * 1024);
  });

  it('stdin loses exactly one trailing line break', () => {
    expect(valueFromStdin('s3cret\n')).toBe('s3cret');
    expect(valueFromStdin('s3cret\r\n')).toBe('s3cret');
    expect(valueFromStdin('two\nlines\n\n')).toBe('two\nlines\n');
    expect(valueFromStdin('none')).toBe('none');
  });

  it('a bare secret reads stdin when it is no terminal; a terminal in CI is never prompted', async () => {
    const stdin = (chunks: string[], isTTY = false) => Object.assign(Readable.from(chunks.map((c) => Buffer.from(c))), { isTTY }) as unknown as NodeJS.ReadStream;
    expect(await readSecretValue('API_KEY', {}, stdin(['s3', 'cret\n']))).toBe('s3cret');
    await expect(readSecretValue('API_KEY', {}, stdin([]))).rejects.toMatchObject({ exitCode: EXIT.usage, message: 'no value for API_KEY on stdin' });
    await expect(readSecretValue('API_KEY', { CI: '1' }, stdin([], true))).rejects.toMatchObject({ exitCode: EXIT.usage, message: expect.stringContaining('CI never prompts') });
  });

  it('describes changes by name only', () => {
    expect(describeChanges({ set: ['A', 'B'], unset: ['C'], settings: [] })).toBe('set A, B; unset C');
    expect(describeChanges({ set: [], unset: [], settings: ['health_path'] })).toBe('settings health_path');
    expect(describeChanges({ set: [], unset: [] })).toBe('');
  });
});

describe('aether config import: dotenv files', () => {
  it('parses quotes, export, comments, multi-line values and "=" inside values', async () => {
    const text = [
      '# the database',
      'export DATABASE_URL="postgres://u:p@db/app?sslmode=require"',
      "SINGLE='keeps # and $HOME literally'",
      'INLINE=value # a comment',
      'MULTI="line one',
      'line two"',
      'ESCAPED="a\\nb"',
      'EMPTY=',
      '',
    ].join('\n');
    expect(await parseDotenv(text, '.env')).toEqual({
      DATABASE_URL: 'postgres://u:p@db/app?sslmode=require',
      SINGLE: 'keeps # and $HOME literally',
      INLINE: 'value',
      MULTI: 'line one\nline two',
      ESCAPED: 'a\nb',
      EMPTY: '',
    });
  });

  it('a file without variables, or with a reserved name, is a usage error', async () => {
    await expect(parseDotenv('# only a comment\n\n', '.env')).rejects.toMatchObject({ exitCode: EXIT.usage, message: 'no variables in .env' });
    await expect(parseDotenv('PORT=8080\n', '.env')).rejects.toMatchObject({ exitCode: EXIT.usage, message: expect.stringContaining('PORT is reserved') });
  });
});

describe('aether commands parse their flags', () => {
  it('config set: variadic assignments, --secret, --no-deploy, --app, --format', async () => {
    const { args, opts } = await parsed(['config', 'set', 'A=1', 'B=x=y', '--secret', '--no-deploy', '--app', 'api', '--format', 'json']);
    expect(args).toEqual(['A=1', 'B=x=y']);
    expect(opts).toMatchObject({ secret: true, deploy: false, app: 'api', format: 'json' });
    expect((await parsed(['config', 'unset', 'A', 'B'])).opts).toMatchObject({ deploy: true, format: 'text' });
  });

  it('apps update: a value, a --no- form (null: the default) or nothing, per setting', async () => {
    const { opts } = await parsed(['apps', 'update', '--start-command', 'node server.js', '--no-health-path', '--health-timeout', '30', '--no-deploy']);
    expect(opts).toMatchObject({ startCommand: 'node server.js', healthPath: false, healthTimeout: 30, deploy: false });
    expect(opts.team).toBeUndefined();
    const none = (await parsed(['apps', 'update', '--team', 'payments'])).opts;
    expect(none).toMatchObject({ team: 'payments', deploy: true });
    expect(none.startCommand).toBeUndefined();
    expect(none.healthTimeout).toBeUndefined();
  });

  it('audit: --limit is an integer (default 50); --since takes durations and ISO times', async () => {
    expect((await parsed(['audit', '--app', 'api', '--since', '1h'])).opts).toMatchObject({ app: 'api', since: '1h', limit: 50 });
    const now = Date.parse('2026-03-01T12:00:00.000Z');
    expect(parseTimeFlag('--since', '90m', now)).toBe('2026-03-01T10:30:00.000Z');
    expect(parseTimeFlag('--since', '7d', now)).toBe('2026-02-22T12:00:00.000Z');
    expect(parseTimeFlag('--since', '2026-02-01T08:00:00+01:00', now)).toBe('2026-02-01T07:00:00.000Z');
    expect(() => parseTimeFlag('--since', 'yesterday', now)).toThrow(/--since must be a duration/);
    expect(() => parseTimeFlag('--since', '10x', now)).toThrow(CliError);
  });

  it('completions offer the new commands and their flags', () => {
    const script = bashCompletion(buildProgram(async () => {}, {}));
    expect(script).toMatch(/"config"\) opts="set unset list import deploy /);
    expect(script).toMatch(/"config set"\) opts="--app --secret --no-deploy --format/);
    expect(script).toMatch(/"apps update"\) opts="--app --start-command --no-start-command --health-path/);
    expect(script).toMatch(/"teams"\) opts="list create delete /);
    expect(script).toMatch(/"audit"\) opts="--app --team --actor --action --outcome --since --until --limit --format/);
  });

  it('bash completes past option values and arguments', () => {
    const script = bashCompletion(buildProgram(async () => {}, {}));
    const complete = (...words: string[]) =>
      execFileSync('bash', ['-c', `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _aether_complete; echo "\${COMPREPLY[*]}"`]).toString().trim();
    expect(complete('aether', 'config', 'set', '--app', 'api', 'A=1', '--se')).toBe('--secret');
    expect(complete('aether', '--log-level', 'info', 'apps', 'up')).toBe('update');
    expect(complete('aether', 'te')).toBe('teams');
  });
});
