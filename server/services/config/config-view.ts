import { SECRET_MASK, type TConfigView } from '../../contract/config';
import { diffConfig } from './config-diff';
import type { ConfigVersionRow } from './config-versions';

/**
 * The write-only face of a version: plain values as they are, secrets as a mask with when
 * and by whom they were set. Nothing here can carry a secret's value or ciphertext.
 */
export function toConfigView(appName: string, current: ConfigVersionRow, running: ConfigVersionRow | null): TConfigView {
  const staged = running !== null && running.id !== current.id;
  const changes = staged ? diffConfig(running, current) : { set: [], unset: [], settings: [] };
  return {
    app_name: appName,
    version: current.version,
    running_version: running?.version ?? null,
    staged,
    entries: Object.entries(current.entries)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, e]) => ({
        name,
        secret: e.secret,
        value: e.secret ? null : (e.value ?? ''),
        display: e.secret ? SECRET_MASK : (e.value ?? ''),
        set_at: e.set_at,
        set_by: e.set_by,
      })),
    settings: { ...current.settings },
    staged_changes: { set: changes.set, unset: changes.unset, settings: changes.settings },
  };
}
