import type { StoredAppSettings, StoredConfigChanges, StoredConfigEntry } from '../../../db/schema';

export type ConfigEntries = Record<string, StoredConfigEntry>;

export const DEFAULT_SETTINGS: StoredAppSettings = { start_command: null, health_path: null, health_timeout_secs: null };

const SETTING_NAMES = Object.keys(DEFAULT_SETTINGS) as Array<keyof StoredAppSettings>;

/**
 * What `to` changes against `from`, by name only. An entry counts as changed when anything
 * stored about it differs: a re-set secret has a new ciphertext and time even if its value
 * happens to be the same, which is what its owner asked for.
 */
export function diffConfig(
  from: { entries: ConfigEntries; settings: StoredAppSettings } | null,
  to: { entries: ConfigEntries; settings: StoredAppSettings },
): StoredConfigChanges {
  const before = from?.entries ?? {};
  const beforeSettings = from?.settings ?? DEFAULT_SETTINGS;
  // Own names only: `constructor` or `toString` are valid variable names, and `in` would find
  // Object.prototype's (an unset of one would change nothing).
  const set = Object.keys(to.entries).filter((name) => !sameEntry(Object.hasOwn(before, name) ? before[name] : undefined, to.entries[name]));
  const unset = Object.keys(before).filter((name) => !Object.hasOwn(to.entries, name));
  const settings = SETTING_NAMES.filter((k) => (beforeSettings[k] ?? null) !== (to.settings[k] ?? null));
  return { set: set.sort(), unset: unset.sort(), settings };
}

function sameEntry(a: StoredConfigEntry | undefined, b: StoredConfigEntry | undefined): boolean {
  if (!a || !b) return false;
  return a.secret === b.secret && a.value === b.value && a.sealed === b.sealed && a.set_at === b.set_at;
}

export function isEmptyChange(c: StoredConfigChanges): boolean {
  return c.set.length === 0 && c.unset.length === 0 && c.settings.length === 0;
}

/** "set A, B; unset C; settings health_path": names only, for events and messages. */
export function describeChanges(c: StoredConfigChanges): string {
  const parts: string[] = [];
  if (c.set.length) parts.push(`set ${c.set.join(', ')}`);
  if (c.unset.length) parts.push(`unset ${c.unset.join(', ')}`);
  if (c.settings.length) parts.push(`settings ${c.settings.join(', ')}`);
  return parts.join('; ') || 'no changes';
}
