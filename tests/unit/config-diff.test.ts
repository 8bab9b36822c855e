import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, diffConfig, type ConfigEntries } from '../../server/services/config/config-diff';
import { configNameProblem } from '../../server/contract/config';

const entry = (value: string) => ({ secret: false, value, set_at: '2026-01-01T00:00:00.000Z', set_by: 'x' });

describe('diffConfig with names an Object.prototype also has', () => {
  // POSIX names, so the rules accept them: an app may well call a variable `constructor`.
  const names = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'isPrototypeOf'];

  it.each(names)('unsetting %s is a change (it was not, so the unset never happened)', (name) => {
    expect(configNameProblem(name)).toBeNull();
    const from = { entries: { [name]: entry('v'), KEEP: entry('k') } as ConfigEntries, settings: DEFAULT_SETTINGS };
    const to = { entries: { KEEP: entry('k') } as ConfigEntries, settings: DEFAULT_SETTINGS };
    expect(diffConfig(from, to)).toEqual({ set: [], unset: [name], settings: [] });
  });

  it.each(names)('setting %s for the first time is a change', (name) => {
    const from = { entries: {} as ConfigEntries, settings: DEFAULT_SETTINGS };
    const to = { entries: { [name]: entry('v') } as ConfigEntries, settings: DEFAULT_SETTINGS };
    expect(diffConfig(from, to)).toEqual({ set: [name], unset: [], settings: [] });
  });
});
