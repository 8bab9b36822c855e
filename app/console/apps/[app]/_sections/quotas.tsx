import { ActionForm } from '../../../../_components/action-form';
import { describeError } from '../../../../_components/describe-error';
import { ErrorPanel } from '../../../../_components/error-panel';
import { formatBytes } from '../../../../_components/format';
import { UsageBar } from '../../../../_components/usage-bar';
import { setLimitsAction } from '../../../actions';
import type { App, Caller } from './types';

const MIB = 1024 * 1024;
const count = (n: number) => n.toLocaleString('en-US');

/** How much of its quota the app uses (count and bytes), its retention, and (admins) the overrides. */
export async function QuotasSection({ caller, app, canEdit }: { caller: Caller; app: App; canEdit: boolean }) {
  let limits;
  try {
    limits = await caller.apps.limits({ app_name: app.name });
  } catch (err) {
    return <ErrorPanel error={describeError(err)} what="Loading quotas" />;
  }
  const { usage, effective, overrides } = limits;
  const origin = (k: keyof typeof overrides) => (overrides[k] === null ? 'platform default' : 'set for this app');
  return (
    <section aria-labelledby="quota-title" className="card">
      <h2 id="quota-title">Quota and retention</h2>
      <UsageBar label="Artifacts" used={usage.artifacts} limit={effective.max_artifacts} format={count} />
      <UsageBar label="Storage" used={usage.bytes} limit={effective.max_total_bytes} format={formatBytes} />
      <p className="small">
        Retention: {effective.retain_latest === null ? 'keeps every artifact' : <>keeps the newest <strong>{effective.retain_latest}</strong> artifacts</>} ({origin('retain_latest')}).
        Artifacts a deployment runs or may roll back to are never deleted.
      </p>
      <p className="muted small">
        Limits: artifacts {origin('max_artifacts')}, storage {origin('max_total_bytes')}. Uploads over a limit are refused with <code>quota_exceeded</code>; nothing stored is deleted.
      </p>
      {canEdit ? (
        <ActionForm action={setLimitsAction} submit="Save limits" pendingLabel="Saving…" label="Edit limits" className="grid-form">
          <input type="hidden" name="app_name" value={app.name} />
          <label htmlFor="max_artifacts">Max artifacts</label>
          <input id="max_artifacts" name="max_artifacts" type="number" min={0} step={1} inputMode="numeric" defaultValue={overrides.max_artifacts ?? ''} placeholder="platform default" />
          <label htmlFor="max_total_mib">Max storage (MiB)</label>
          <input id="max_total_mib" name="max_total_mib" type="number" min={0} step="any" inputMode="decimal" defaultValue={overrides.max_total_bytes === null ? '' : overrides.max_total_bytes / MIB} placeholder="platform default" />
          <label htmlFor="retain_latest">Keep newest (artifacts)</label>
          <input id="retain_latest" name="retain_latest" type="number" min={1} step={1} inputMode="numeric" defaultValue={overrides.retain_latest ?? ''} placeholder="platform default" />
          <p className="muted small span-all">Leave a field empty to use the platform default.</p>
        </ActionForm>
      ) : null}
    </section>
  );
}
