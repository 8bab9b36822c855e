import type { Sql } from 'postgres';

export interface ListSeedShape {
  apps: number;
  artifacts: number;
  deployments: number;
  /** Phases recorded per deployment (what the portal's timeline reads beside each one). */
  eventsPerDeployment: number;
}

/** The app that holds a fifth of every table: the one whose lists are longest. */
export const BIG_APP = 'bench-000';

/**
 * Bulk-seeds a migrated database in a few `insert ... select generate_series(...)` statements:
 * `apps` apps of the default team, each with one config version; `artifacts` rows, a fifth of
 * them in BIG_APP and the rest spread evenly, 30 s apart, mostly stored (some deleted or
 * failed); `deployments` of the newest stored artifacts (each app's latest one running), with
 * their events; then VACUUM ANALYZE, so the planner sees what production would.
 */
export async function seedListTables(sql: Sql, shape: ListSeedShape): Promise<void> {
  const others = shape.apps - 1;
  await sql.unsafe(
    `insert into applications (name, owner) select 'bench-' || lpad(g::text, 3, '0'), 'bench' from generate_series(0, ${others}) g`,
  );
  await sql.unsafe(`insert into config_versions (app_id, version, created_by) select id, 1, 'bench' from applications`);
  await sql.unsafe(
    `update applications a set config_version_id = cv.id from config_versions cv where cv.app_id = a.id`,
  );
  await sql.unsafe(`
    insert into artifacts (app_id, digest, size_bytes, status, storage_key, verified, created_at, updated_at, completed_at, stored_at)
    select ids[1 + case when g % 5 = 0 then 0 else 1 + g % ${others} end],
           encode(sha256(int8send(g::bigint)), 'hex'),
           1000000 + g % 5000000,
           case when g % 50 = 0 then 'deleted' when g % 97 = 0 then 'failed' else 'stored' end,
           'artifacts/bench/' || g || '/app.tar.gz',
           g % 97 <> 0,
           at, at, at, at
      from generate_series(1, ${shape.artifacts}) g,
           (select array_agg(id order by name) ids from applications) apps,
           lateral (select now() - make_interval(secs => g * 30)) t(at)`);
  await sql.unsafe(`
    insert into deployments (app_id, artifact_id, digest, config_version_id, status, created_by, url, created_at, last_transition_at,
                             rollout_started_at, rollout_completed_at)
    select a.app_id, a.id, a.digest, app.config_version_id, 'superseded', 'bench', 'http://' || app.name || '.apps.internal',
           a.created_at + interval '1 minute', a.created_at + interval '2 minutes', a.created_at + interval '1 minute',
           a.created_at + interval '90 seconds'
      from (select * from artifacts where status = 'stored' order by created_at desc limit ${shape.deployments}) a
      join applications app on app.id = a.app_id`);
  await sql.unsafe(
    `update deployments set status = 'running' where id in (select distinct on (app_id) id from deployments order by app_id, created_at desc)`,
  );
  await sql.unsafe(`
    insert into deployment_events (deployment_id, phase, message, duration_ms, created_at)
    select d.id, (array['fetch', 'verify', 'start', 'health', 'switch'])[p], '', 100 * p, d.created_at + make_interval(secs => p)
      from deployments d, generate_series(1, ${shape.eventsPerDeployment}) p`);
  await sql.unsafe('vacuum analyze');
}
