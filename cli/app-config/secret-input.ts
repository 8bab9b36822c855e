import { CliError, EXIT } from '../errors';
import { valueFromStdin } from './vars';

/**
 * A secret's value for `config set KEY --secret`: piped on stdin, or typed at a hidden prompt
 * on a terminal. Either way it never reaches shell history or `ps`.
 */
export async function readSecretValue(
  name: string,
  env: { CI?: string },
  stdin: NodeJS.ReadStream = process.stdin,
): Promise<string> {
  if (!stdin.isTTY) {
    const text = await readStdinText(stdin);
    if (text.length === 0) {
      throw new CliError(EXIT.usage, `no value for ${name} on stdin`, `pipe it in: aether config set ${name} --secret < file`);
    }
    return valueFromStdin(text);
  }
  if (env.CI) throw new CliError(EXIT.usage, `no value for ${name}: pipe it on stdin (CI never prompts)`);
  const { isCancel, password } = await import('@clack/prompts');
  const answer = await password({ message: `Value of ${name} (hidden)` });
  if (isCancel(answer)) throw new CliError(EXIT.usage, 'cancelled');
  return answer;
}

export async function readStdinText(stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
