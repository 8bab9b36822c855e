import Link from 'next/link';
import { describeError } from '../../_components/describe-error';
import { Empty, ErrorPanel } from '../../_components/error-panel';
import { formatAgo, formatTime } from '../../_components/format';
import { Badge } from '../../_components/status';
import { getPortalCaller } from '../../_trpc/server';
import { ERROR_TABLE } from '../../../server/contract/errors';
import type { TAuditRecord } from '../../../server/contract/audit';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Audit log' };

type Search = Promise<Record<string, string | string[] | undefined>>;

/** The filters, as GET parameters: a filtered view is a link people can share. */
const FILTERS = ['app', 'team', 'actor', 'action', 'outcome', 'since'] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

const PAGE_SIZE = 50;
const OUTCOMES = ['ok', ...Object.keys(ERROR_TABLE)];
const ACTIONS = ['apps.create', 'apps.update', 'apps.delete', 'config.change', 'config.deploy', 'deployments.create', 'deployments.rollback', 'keys.add', 'teams.create'];

const one = (v: string | string[] | undefined) => String((Array.isArray(v) ? v[0] : v) ?? '').trim();

/** A datetime-local value ("2026-12-04T17:00") is read as UTC, like every time on this page. */
function sinceIso(since: string): string | undefined {
  if (!since) return undefined;
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(since) ? `${since}:00Z` : since;
}

function href(filters: Filters, cursor?: string): string {
  const params = new URLSearchParams();
  for (const k of FILTERS) if (filters[k]) params.set(k, filters[k]);
  if (cursor) params.set('cursor', cursor);
  const qs = params.toString();
  return qs ? `/console/audit?${qs}` : '/console/audit';
}

function FilterForm({ filters }: { filters: Filters }) {
  const input = (name: keyof Filters, label: string, extra: Record<string, string> = {}) => (
    <label>
      {label}
      <input name={name} defaultValue={name === 'since' ? filters.since.slice(0, 16) : filters[name]} autoComplete="off" spellCheck={false} {...extra} />
    </label>
  );
  return (
    <form method="get" action="/console/audit" className="card filters" aria-label="Filter the audit log">
      {input('app', 'App', { placeholder: 'my-service' })}
      {input('team', 'Team', { placeholder: 'default' })}
      {input('actor', 'Actor', { placeholder: 'token or user name' })}
      {input('action', 'Action', { placeholder: 'config.change', list: 'audit-actions' })}
      {input('outcome', 'Outcome', { placeholder: 'ok or an error code', list: 'audit-outcomes' })}
      {input('since', 'Since (UTC)', { type: 'datetime-local' })}
      <datalist id="audit-actions">{ACTIONS.map((a) => <option key={a} value={a} />)}</datalist>
      <datalist id="audit-outcomes">{OUTCOMES.map((o) => <option key={o} value={o} />)}</datalist>
      <div className="row-start">
        <button type="submit">Filter</button>
        <Link href="/console/audit">Clear filters</Link>
      </div>
    </form>
  );
}

/** Names, ids and counts the mutation noted (never values): compact, for the table. */
function detailText(detail: TAuditRecord['detail']): string {
  return Object.entries(detail)
    .filter(([, v]) => v !== null && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join('; ');
}

function Row({ r, now }: { r: TAuditRecord; now: number }) {
  const detail = detailText(r.detail);
  return (
    <tr data-audit={r.id}>
      <td data-label="Time">
        <time dateTime={r.at} title={formatTime(r.at)}>{formatAgo(r.at, now)}</time>
      </td>
      <td data-label="Actor">
        {r.actor}
        {r.actor_role ? <span className="muted small"> ({r.actor_role})</span> : null}
      </td>
      <td data-label="Action">
        <code>{r.action}</code>
        {detail ? <div className="muted small">{detail}</div> : null}
      </td>
      <td data-label="Target">{r.target ?? <span className="muted">–</span>}</td>
      <td data-label="Team">{r.team ?? <span className="muted">–</span>}</td>
      <td data-label="Outcome">{r.outcome === 'ok' ? <Badge tone="ok">ok</Badge> : <Badge tone="bad">{r.outcome}</Badge>}</td>
      <td data-label="Request id">{r.request_id ? <code className="small">{r.request_id}</code> : <span className="muted">–</span>}</td>
    </tr>
  );
}

/** Who changed what, newest first. Admins see every record; others the records of their teams (the server decides). */
export default async function AuditPage({ searchParams }: { searchParams: Search }) {
  const session = await getPortalCaller();
  if (!session) return null;
  const search = await searchParams;
  const filters = Object.fromEntries(FILTERS.map((k) => [k, one(search[k])])) as Filters;
  const cursor = one(search.cursor) || undefined;
  let page;
  try {
    page = await session.caller.audit.list({
      app_name: filters.app || undefined,
      team: filters.team || undefined,
      actor: filters.actor || undefined,
      action: filters.action || undefined,
      outcome: filters.outcome || undefined,
      since: sinceIso(filters.since),
      cursor,
      limit: PAGE_SIZE,
    });
  } catch (err) {
    page = describeError(err);
  }
  const now = Date.now();
  const scope = session.actor.role === 'admin' ? 'every team' : session.actor.teams === null ? 'every team’s apps' : `team ${session.actor.teams.join(', ')}`;
  return (
    <>
      <h1>Audit log</h1>
      <p className="muted">Every change, with who made it and how it ended. You see records of {scope}. Records are never changed or deleted.</p>
      <FilterForm filters={filters} />
      {'items' in page ? (
        page.items.length === 0 ? (
          <Empty>{cursor ? 'No older records.' : 'No records match these filters.'}</Empty>
        ) : (
          <div className="table-wrap">
            <table className="audit">
              <caption className="sr-only">Audit records, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Action</th>
                  <th scope="col">Target</th>
                  <th scope="col">Team</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Request id</th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((r) => (
                  <Row key={r.id} r={r} now={now} />
                ))}
              </tbody>
            </table>
          </div>
        )
      ) : (
        <ErrorPanel error={page} what="Loading the audit log" />
      )}
      <div className="row-start">
        {cursor ? <Link href={href(filters)}>Newest</Link> : null}
        {'items' in page && page.next_cursor ? <Link href={href(filters, page.next_cursor)}>Older</Link> : null}
      </div>
    </>
  );
}
