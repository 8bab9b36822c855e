import Link from 'next/link';
import { describeError } from '../../../../_components/describe-error';
import { Empty, ErrorPanel } from '../../../../_components/error-panel';
import { formatAgo, formatBytes, formatTime, shortDigest } from '../../../../_components/format';
import { artifactFailureText } from '../../../../_components/plain-words';
import { ArtifactStatus, Badge } from '../../../../_components/status';
import type { App, Caller } from './types';

const STATUSES = ['pending', 'verifying', 'stored', 'failed', 'deleted'] as const;
type Status = (typeof STATUSES)[number];

/** The app's uploaded bytes, newest first, 50 a page: size, digest, verification and the key that vouched. */
export async function ArtifactsSection({ caller, app, cursor, status, now }: { caller: Caller; app: App; cursor?: string; status?: string; now: number }) {
  const filter = STATUSES.includes(status as Status) ? (status as Status) : undefined;
  let page;
  try {
    page = await caller.console.artifacts({ app_name: app.name, status: filter, cursor, limit: 50 });
  } catch (err) {
    return <ErrorPanel error={describeError(err)} what="Loading artifacts" />;
  }
  const base = `/console/apps/${app.name}?tab=artifacts${filter ? `&status=${filter}` : ''}`;
  return (
    <section aria-labelledby="artifacts-title" className="card">
      <div className="row">
        <h2 id="artifacts-title">Artifacts</h2>
        <form method="get" className="inline-form" aria-label="Filter artifacts">
          <input type="hidden" name="tab" value="artifacts" />
          <label htmlFor="status">Status</label>
          <select id="status" name="status" defaultValue={filter ?? ''}>
            <option value="">all but deleted</option>
            {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
          <button type="submit" className="secondary">Filter</button>
        </form>
      </div>
      {page.items.length === 0 ? (
        <Empty>{filter || cursor ? 'No artifacts here.' : 'No artifacts yet: `aether deploy` uploads one.'}</Empty>
      ) : (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">Artifacts of {app.name}</caption>
            <thead>
              <tr>
                <th scope="col">Digest</th>
                <th scope="col">Size</th>
                <th scope="col">Status</th>
                <th scope="col">Verified</th>
                <th scope="col">Signing key</th>
                <th scope="col">Uploaded</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((a) => (
                <tr key={a.artifact_id}>
                  <td data-label="Digest"><code title={a.digest}>{shortDigest(a.digest)}</code></td>
                  <td data-label="Size">{formatBytes(a.size_bytes)}</td>
                  <td data-label="Status">
                    <ArtifactStatus status={a.status} />
                    {a.failure_reason ? <div className="failure small">{artifactFailureText(a.failure_reason)}</div> : null}
                  </td>
                  <td data-label="Verified">
                    {a.verified ? <Badge tone="ok">verified</Badge> : <Badge tone="idle">{a.signed ? 'signature not verified' : 'unsigned'}</Badge>}
                  </td>
                  <td data-label="Signing key">
                    {a.signing_key ? (
                      <code title={a.signing_key.active ? 'active key' : 'key since deactivated'}>
                        {a.signing_key.fingerprint}
                        {a.signing_key.active ? '' : ' (inactive)'}
                      </code>
                    ) : (
                      <span className="muted">–</span>
                    )}
                  </td>
                  <td data-label="Uploaded">
                    <time dateTime={a.created_at} title={formatTime(a.created_at)}>{formatAgo(a.created_at, now)}</time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="row-start">
        {cursor ? <Link href={base}>Newest</Link> : null}
        {page.next_cursor ? <Link href={`${base}&cursor=${page.next_cursor}`}>Older artifacts</Link> : null}
      </div>
    </section>
  );
}
