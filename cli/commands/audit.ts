import { call, createApi, type Api } from '../client';
import { resolveConnection, type CliEnv } from '../config';
import { CliError, EXIT } from '../errors';
import { table, type Output } from '../output';
import { APP_NAME_RE } from '../../server/contract/app-name';

export interface AuditOptions {
  app?: string;
  team?: string;
  actor?: string;
  action?: string;
  outcome?: string;
  since?: string;
  until?: string;
  limit: number;
  format: 'text' | 'json';
}

type AuditPage = Awaited<ReturnType<Api['audit']['list']['query']>>;
type AuditRecord = AuditPage['items'][number];

/** The server's largest page. */
const PAGE_MAX = 200;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `--since 90m` (a duration back from now: s, m, h, d, w) or a date/time, as ISO 8601 UTC. */
export function parseTimeFlag(flag: string, value: string, now = Date.now()): string {
  const ago = /^(\d+)([smhdw])$/.exec(value);
  if (ago) return new Date(now - Number(ago[1]) * UNIT_MS[ago[2]!]!).toISOString();
  const at = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(at)) throw new CliError(EXIT.usage, `${flag} must be a duration (30m, 2h, 7d) or an ISO 8601 time, got "${value}"`);
  return new Date(at).toISOString();
}

/**
 * `aether audit`: who changed what, newest first. Follows `next_cursor` until --limit records;
 * the JSON's `next_cursor` continues from there (null when there is nothing older).
 */
export async function auditCommand(opts: AuditOptions, env: CliEnv, out: Output): Promise<number> {
  for (const [flag, name] of [['--app', opts.app], ['--team', opts.team]] as const) {
    if (name !== undefined && !APP_NAME_RE.test(name)) {
      throw new CliError(EXIT.usage, `${flag} must be a DNS label (lowercase letters, digits and "-"), got "${name}"`);
    }
  }
  if (opts.limit < 1) throw new CliError(EXIT.usage, '--limit must be at least 1');
  const filters = {
    ...(opts.app ? { app_name: opts.app } : {}),
    ...(opts.team ? { team: opts.team } : {}),
    ...(opts.actor ? { actor: opts.actor } : {}),
    ...(opts.action ? { action: opts.action } : {}),
    ...(opts.outcome ? { outcome: opts.outcome } : {}),
    ...(opts.since ? { since: parseTimeFlag('--since', opts.since) } : {}),
    ...(opts.until ? { until: parseTimeFlag('--until', opts.until) } : {}),
  };
  const api = createApi(await resolveConnection(env, (m) => out.warn(m)));
  const items: AuditRecord[] = [];
  let cursor: string | null = null;
  do {
    const limit = Math.min(PAGE_MAX, opts.limit - items.length);
    const after: { cursor?: string } = cursor ? { cursor } : {};
    const page: AuditPage = await call('reading the audit log', () => api.audit.list.query({ ...filters, limit, ...after }));
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < opts.limit);

  if (opts.format === 'json') {
    out.json({ items, next_cursor: cursor });
    return EXIT.ok;
  }
  if (items.length === 0) {
    out.info('no audit records match');
    return EXIT.ok;
  }
  const rows = [['AT', 'ACTOR', 'TEAM', 'ACTION', 'TARGET', 'OUTCOME', 'DETAIL']];
  for (const r of items) {
    rows.push([r.at.slice(0, 19).replace('T', ' '), r.actor, r.team ?? '-', r.action, r.target ?? '-', r.outcome, describeDetail(r.detail)]);
  }
  out.result(table(rows));
  if (cursor) out.info(`more records are older: raise --limit (${opts.limit}) or narrow --since`);
  return EXIT.ok;
}

/** `key=value` pairs on one line; the server puts names, ids and counts in detail, never values. */
function describeDetail(detail: Record<string, unknown>): string {
  const text = Object.entries(detail)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}
