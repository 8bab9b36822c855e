import { configNameProblem, configValueProblem } from '@/server/contract/config-rules';
import { CliError, EXIT } from '../errors';

/** One `config set` argument: `KEY=VALUE`, or a bare `KEY` whose value comes from stdin. */
export type Assignment = { name: string; value: string } | { name: string; value: null };

/** Splits `KEY=VALUE` at the first `=` (values may hold `=`); a bare `KEY` has a null value. */
export function splitAssignment(arg: string): Assignment {
  const eq = arg.indexOf('=');
  return eq < 0 ? { name: arg, value: null } : { name: arg.slice(0, eq), value: arg.slice(eq + 1) };
}

/**
 * `config set`'s arguments. Every one needs `=`, except with --secret a single bare KEY, whose
 * value is read from stdin (so it stays out of shell history). Errors name keys, never values.
 */
export function parseAssignments(args: string[], opts: { secret: boolean }): Assignment[] {
  if (args.length === 0) throw new CliError(EXIT.usage, 'nothing to set: pass KEY=VALUE...');
  const assignments = args.map(splitAssignment);
  // A bare word that is no valid name may be a value typed without its KEY=: never echo it.
  const unnamed = assignments.findIndex((a) => a.value === null && configNameProblem(a.name) !== null);
  if (unnamed >= 0) throw new CliError(EXIT.usage, `argument ${unnamed + 1} is not KEY=VALUE`);
  const bare = assignments.filter((a) => a.value === null);
  if (bare.length > 0 && !opts.secret) {
    const hint = 'to read a secret from stdin or a prompt instead: aether config set KEY --secret';
    throw new CliError(EXIT.usage, `${bare[0]!.name}: expected KEY=VALUE`, hint);
  }
  if (bare.length > 1) {
    throw new CliError(EXIT.usage, `only one secret can be read from stdin, got ${bare.map((a) => a.name).join(', ')}`);
  }
  const seen = new Set<string>();
  for (const { name } of assignments) {
    assertName(name);
    if (seen.has(name)) throw new CliError(EXIT.usage, `${name} is given twice`);
    seen.add(name);
  }
  return assignments;
}

export function assertName(name: string): void {
  const problem = configNameProblem(name);
  if (problem) throw new CliError(EXIT.usage, problem);
}

/** Checks names and values and returns them as the name -> value map the API takes. */
export function toVars(entries: Iterable<[string, string]>): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const [name, value] of entries) {
    assertName(name);
    const problem = configValueProblem(name, value);
    if (problem) throw new CliError(EXIT.usage, problem);
    vars[name] = value;
  }
  return vars;
}

/**
 * The variables of a dotenv file (dotenv's own parser: quotes, `export`, comments, multi-line
 * values). A file with none is a usage error: importing it would do nothing.
 */
export async function parseDotenv(text: string, source: string): Promise<Record<string, string>> {
  const dotenv = await import('dotenv');
  // dotenv is CommonJS: in the bundled CLI its exports sit on `default`.
  const { parse } = (dotenv as unknown as { default?: typeof dotenv }).default ?? dotenv;
  const parsed = parse(text);
  const names = Object.keys(parsed);
  if (names.length === 0) throw new CliError(EXIT.usage, `no variables in ${source}`, 'expected lines like KEY=VALUE');
  return toVars(Object.entries(parsed));
}

/** A value piped on stdin loses the one line break `echo` or a file adds at its end. */
export function valueFromStdin(text: string): string {
  return text.replace(/\r?\n$/, '');
}
