import type { StoredConfigEntry } from '../../../db/schema';
import { configNameProblem, configValueProblem, MAX_CONFIG_TOTAL_BYTES, MAX_CONFIG_VARS } from '../../contract/config';
import { AppError } from '../../errors';
import { sealedPlaintextBytes, type SecretBox } from '../../secrets/secret-box';
import type { ConfigEntries } from './config-diff';

export interface ConfigEdit {
  set: Record<string, string>;
  secrets: Record<string, string>;
  unset: string[];
}

/**
 * Checks a whole edit before anything is written, so a refused edit changes nothing. Every
 * refusal names the variable, never its value.
 */
export function checkConfigEdit(edit: ConfigEdit): void {
  const problems: string[] = [];
  const touched = new Map<string, string>();
  const claim = (name: string, how: string) => {
    const earlier = touched.get(name);
    if (earlier) problems.push(`variable ${name} is both ${earlier} and ${how} in one change`);
    else touched.set(name, how);
  };
  for (const [how, names] of [['set', Object.keys(edit.set)], ['set as a secret', Object.keys(edit.secrets)], ['unset', edit.unset]] as const) {
    for (const name of names) {
      const problem = configNameProblem(name);
      if (problem) problems.push(problem);
      else claim(name, how);
    }
  }
  for (const [name, value] of [...Object.entries(edit.set), ...Object.entries(edit.secrets)]) {
    const problem = configValueProblem(name, value);
    if (problem) problems.push(problem);
  }
  if (problems.length) throw new AppError('bad_request', problems.slice(0, 10).join('; ') + (problems.length > 10 ? `; and ${problems.length - 10} more` : ''));
}

/**
 * The entries after `edit`; secrets are sealed here, bound to their app and name. A plain
 * value equal to the current one keeps its entry (and time): setting it again changes nothing.
 */
export function applyConfigEdit(current: ConfigEntries, edit: ConfigEdit, by: { appId: string; actor: string; now: Date; secrets: SecretBox }): ConfigEntries {
  const next: ConfigEntries = { ...current };
  const at = by.now.toISOString();
  for (const name of edit.unset) delete next[name];
  for (const [name, value] of Object.entries(edit.set)) {
    const was = current[name];
    if (was && !was.secret && was.value === value) continue;
    next[name] = { secret: false, value, set_at: at, set_by: by.actor } satisfies StoredConfigEntry;
  }
  for (const [name, value] of Object.entries(edit.secrets)) {
    next[name] = { secret: true, sealed: by.secrets.seal(value, secretContext(by.appId, name)), set_at: at, set_by: by.actor };
  }
  const count = Object.keys(next).length;
  if (count > MAX_CONFIG_VARS) {
    throw new AppError('bad_request', `an app holds at most ${MAX_CONFIG_VARS} variables; this change would leave ${count}`);
  }
  const total = configBytes(next);
  if (total > MAX_CONFIG_TOTAL_BYTES) {
    throw new AppError('bad_request', `an app's config holds at most ${MAX_CONFIG_TOTAL_BYTES} bytes in all (NAME=value each); this change would leave ${total}`);
  }
  return next;
}

/** The environment the config makes, in bytes: `NAME=value` plus the terminating NUL, each. */
function configBytes(entries: ConfigEntries): number {
  let total = 0;
  for (const [name, e] of Object.entries(entries)) {
    const valueBytes = e.secret ? sealedPlaintextBytes(e.sealed ?? '') : Buffer.byteLength(e.value ?? '', 'utf8');
    total += Buffer.byteLength(name, 'utf8') + 2 + valueBytes;
  }
  return total;
}

/** What a secret's ciphertext is bound to: moving it to another app or name fails to open. */
export function secretContext(appId: string, name: string): string {
  return `${appId}/${name}`;
}
