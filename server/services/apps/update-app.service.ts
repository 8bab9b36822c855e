import { eq } from 'drizzle-orm';
import { applications } from '../../../db/schema';
import type { TAppSettingsInput } from '../../contract/config';
import type { TApp, TDeployment } from '../../contract/outputs';
import { AppError } from '../../errors';
import { noteAudit } from '../audit/note';
import { afterCommit } from '../config/config.service';
import { currentConfigVersion } from '../config/config-versions';
import { commitConfig } from '../config/release.service';
import type { ServiceCtx } from '../context';
import { toAppDto } from '../dto';
import { findCurrentDeployment } from '../deployments/rollback-target';
import { lockTeamFor } from '../teams/team-access';
import { getAppForActor } from './app-access';

export interface UpdateAppInput extends TAppSettingsInput {
  app_name: string;
  team?: string;
  deploy: boolean;
}

/**
 * Changes an app's settings (recorded in a new config version and, with `deploy`, rolled out
 * like a config change) and/or moves it to another team (admins only: it changes who sees it).
 */
export async function updateApp(ctx: ServiceCtx, input: UpdateAppInput): Promise<{ app: TApp; deployment: TDeployment | null }> {
  const settingNames = (['start_command', 'health_path', 'health_timeout_secs'] as const).filter((k) => input[k] !== undefined);
  noteAudit(ctx, { detail: { settings: settingNames, team: input.team ?? null, deploy: input.deploy } });
  if (input.team !== undefined && ctx.actor.role !== 'admin') throw new AppError('forbidden', 'moving an app to another team needs the admin role');
  if (settingNames.length === 0 && input.team === undefined) throw new AppError('bad_request', 'nothing to update: give a setting or a team');
  const { app, release } = await ctx.db.transaction(async (tx) => {
    let app = await getAppForActor(ctx, tx, input.app_name, { forUpdate: true });
    if (input.team !== undefined && input.team !== app.team) {
      await lockTeamFor(ctx.actor, tx, input.team);
      await tx.update(applications).set({ team: input.team, updatedAt: new Date() }).where(eq(applications.id, app.id));
      app = { ...app, team: input.team };
    }
    if (settingNames.length === 0) return { app, release: null };
    const current = await currentConfigVersion(tx, app);
    const settings = { ...current.settings };
    for (const k of settingNames) (settings as Record<string, unknown>)[k] = input[k] ?? null;
    const release = await commitConfig(ctx, tx, app, { entries: current.entries, settings }, { deploy: input.deploy });
    return { app, release };
  });
  const current = (await findCurrentDeployment(ctx.db, app.id)) ?? null;
  if (!release) return { app: toAppDto(app, current), deployment: null };
  const done = await afterCommit(ctx, app, release);
  return { app: toAppDto({ ...app, configVersionId: release.version.id }, current), deployment: done.deployment };
}
