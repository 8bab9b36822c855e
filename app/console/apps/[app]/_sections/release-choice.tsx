import { ActionForm } from '../../../../_components/action-form';
import { Badge } from '../../../../_components/status';
import type { TConfigView } from '../../../../../server/contract/config';
import { deployStagedConfigAction } from '../../../config-actions';

/**
 * "Deploy now" or "Stage for later", inside a config or settings form. While changes are
 * staged, staging is preselected: a lone deploy would take every staged change along.
 * Keyed by that state: React leaves a mounted radio's checkedness alone when its default changes.
 */
export function DeployChoice({ staged }: { staged: boolean }) {
  return (
    <fieldset className="choice" key={staged ? 'staged' : 'clean'}>
      <legend className="sr-only">When the change takes effect</legend>
      <label>
        <input type="radio" name="mode" value="deploy" defaultChecked={!staged} /> Deploy now
      </label>
      <label>
        <input type="radio" name="mode" value="stage" defaultChecked={staged} /> Stage, deploy later
      </label>
    </fieldset>
  );
}

const names = (list: string[]) => list.join(', ');

/** What is staged (names only) and the button that rolls it all out with the running artifact. */
export function StagedNotice({ config, canDeploy }: { config: TConfigView; canDeploy: boolean }) {
  if (!config.staged) return null;
  const { set, unset, settings } = config.staged_changes;
  return (
    <div className="staged" role="region" aria-label="Staged changes">
      <p>
        <Badge tone="busy">staged</Badge> Config v{config.version} is not running yet (v{config.running_version} runs).
        {set.length ? <> Set: <code>{names(set)}</code>.</> : null}
        {unset.length ? <> Deleted: <code>{names(unset)}</code>.</> : null}
        {settings.length ? <> Settings: <code>{names(settings)}</code>.</> : null}
      </p>
      {canDeploy ? (
        <ActionForm action={deployStagedConfigAction} submit="Deploy staged config" pendingLabel="Deploying…" label="Deploy the staged config">
          <input type="hidden" name="app_name" value={config.app_name} />
        </ActionForm>
      ) : null}
    </div>
  );
}
