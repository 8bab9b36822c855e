import Link from 'next/link';
import { ConfirmAction } from '../../../_components/confirm-action';
import { describeError } from '../../../_components/describe-error';
import { Empty, ErrorPanel } from '../../../_components/error-panel';
import { formatAgo, formatTime } from '../../../_components/format';
import { Badge } from '../../../_components/status';
import { getPortalCaller } from '../../../_trpc/server';
import { revokeTokenAction } from '../actions';
import { CreateTokenForm } from '../_components/create-token-form';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'API tokens' };

type Search = Promise<Record<string, string | string[] | undefined>>;

const STATUS = { active: 'ok', expired: 'idle', revoked: 'bad' } as const;

/** API tokens: create (the secret is shown once, optionally limited to teams), list by name, hint and teams, revoke. */
export default async function TokensPage({ searchParams }: { searchParams: Search }) {
  const session = await getPortalCaller();
  if (!session) return null;
  const all = (await searchParams).all === '1';
  let tokens, teams;
  try {
    [tokens, teams] = await Promise.all([
      session.caller.admin.tokens.list({ include_inactive: all }),
      session.caller.teams.list(),
    ]);
  } catch (err) {
    return <ErrorPanel error={describeError(err)} what="Loading the API tokens" />;
  }
  const now = Date.now();
  return (
    <>
      <h1>API tokens</h1>
      <p className="muted">Tokens sign in the CLI, CI jobs and the portal. Only a hash and the last four characters are kept.</p>
      <CreateTokenForm teams={teams.map((t) => t.name)} />
      <div className="row">
        <h2>{all ? 'All tokens' : 'Active tokens'} <span className="count">{tokens.length}</span></h2>
        <Link href={all ? '/console/admin/tokens' : '/console/admin/tokens?all=1'}>{all ? 'Show active only' : 'Show revoked and expired too'}</Link>
      </div>
      {tokens.length === 0 ? (
        <Empty>No tokens yet.</Empty>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">API tokens</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Teams</th>
                <th scope="col">Status</th>
                <th scope="col">Ends in</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {tokens.map((t) => (
                <tr key={t.id ?? `env-${t.name}`} data-token={t.id ?? 'env'}>
                  <th scope="row">
                    {t.name}
                    {t.id === session.actor.tokenId && t.id ? <span className="tag">this session</span> : null}
                  </th>
                  <td data-label="Role"><span className={`role role-${t.role}`}>{t.role}</span></td>
                  <td data-label="Teams">{t.teams ? t.teams.join(', ') : <span className="muted">all</span>}</td>
                  <td data-label="Status"><Badge tone={STATUS[t.status]}>{t.status}</Badge></td>
                  <td data-label="Ends in">{t.source === 'environment' ? <span className="muted">environment</span> : <code>…{t.hint}</code>}</td>
                  <td data-label="Created">
                    {t.created_at ? <time dateTime={t.created_at} title={formatTime(t.created_at)}>{formatAgo(t.created_at, now)}</time> : <span className="muted">set by config</span>}
                    {t.expires_at ? <div className="muted small">expires {formatTime(t.expires_at)}</div> : null}
                  </td>
                  <td data-label="Last used">{t.last_used_at ? <time dateTime={t.last_used_at}>{formatAgo(t.last_used_at, now)}</time> : <span className="muted">–</span>}</td>
                  <td data-label="Actions">
                    {t.id && t.status === 'active' ? (
                      <ConfirmAction
                        action={revokeTokenAction}
                        fields={{ id: t.id, name: t.name }}
                        trigger="Revoke"
                        title={`Revoke “${t.name}”?`}
                        body={
                          <p>
                            Everything using it is refused from now on.
                            {t.id === session.actor.tokenId ? ' This is the token of your own session: you will be signed out.' : ''}
                          </p>
                        }
                        confirm="Revoke token"
                        danger
                      />
                    ) : t.source === 'environment' ? (
                      <span className="muted small">change AETHER_API_TOKENS to remove</span>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
