import Link from 'next/link';
import { describeError } from '../../../_components/describe-error';
import { Empty, ErrorPanel } from '../../../_components/error-panel';
import { formatBytes, formatDuration } from '../../../_components/format';
import { artifactFailureText, deploymentFailureText } from '../../../_components/plain-words';
import { getPortalCaller } from '../../../_trpc/server';
import { ZMetricsRange, type TMetricsRange } from '../../../../server/services/admin/admin.schemas';
import styles from '../admin.module.css';
import { AutoRefresh } from '../_components/auto-refresh';
import { MetricsCharts, QueueThroughputCharts } from '../_components/metrics-charts';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Metrics' };

type Search = Promise<Record<string, string | string[] | undefined>>;

const RANGE_LABELS: Record<TMetricsRange, string> = { '6h': 'Last 6 hours', '24h': 'Last 24 hours', '7d': 'Last 7 days' };

function Tile({ label, value, bad }: { label: string; value: string; bad?: boolean }) {
  return (
    <li className={styles.tile}>
      <div className={styles.tileLabel}>{label}</div>
      <div className={`${styles.tileValue} ${bad ? styles.tileBad : ''}`}>{value}</div>
    </li>
  );
}

const p = (v: number | null) => (v === null ? '–' : formatDuration(v));

/** Uploads, verification, deploys, failures and job throughput over a window, as charts. */
export default async function MetricsPage({ searchParams }: { searchParams: Search }) {
  const session = await getPortalCaller();
  if (!session) return null;
  const parsed = ZMetricsRange.safeParse((await searchParams).range);
  const range: TMetricsRange = parsed.success ? parsed.data : '24h';
  let data;
  try {
    data = await session.caller.admin.metrics.dashboard({ range });
  } catch (err) {
    return <ErrorPanel error={describeError(err)} what="Loading the metrics" />;
  }
  const t = data.totals;
  const quiet = t.uploads === 0 && t.deploys === 0 && data.queues.every((q) => q.completed + q.failed === 0);
  return (
    <>
      <div className="row">
        <h1>Metrics</h1>
        <AutoRefresh seconds={30} />
      </div>
      <nav className="tabs" aria-label="Time range">
        {(Object.keys(RANGE_LABELS) as TMetricsRange[]).map((r) => (
          <Link key={r} href={`/console/admin/metrics?range=${r}`} aria-current={r === range ? 'page' : undefined}>{RANGE_LABELS[r]}</Link>
        ))}
      </nav>
      <ul className={styles.tiles} aria-label={`Totals, ${RANGE_LABELS[range].toLowerCase()}`}>
        <Tile label="Uploads" value={`${t.uploads}`} />
        <Tile label="Bytes uploaded" value={formatBytes(t.upload_bytes)} />
        <Tile label="Upload time p50 / p95" value={`${p(t.upload_p50_ms)} / ${p(t.upload_p95_ms)}`} />
        <Tile label="Complete → stored p50 / p95" value={`${p(t.stored_p50_ms)} / ${p(t.stored_p95_ms)}`} />
        <Tile label="Deploys" value={`${t.deploys}`} />
        <Tile label="Time to running p50 / p95" value={`${p(t.running_p50_ms)} / ${p(t.running_p95_ms)}`} />
        <Tile label="Failed verifications" value={`${t.artifact_failures}`} bad={t.artifact_failures > 0} />
        <Tile label="Failed deploys" value={`${t.deployment_failures}`} bad={t.deployment_failures > 0} />
      </ul>
      {quiet ? <Empty>Nothing was uploaded, deployed or processed in this window yet; the charts fill in as work happens.</Empty> : null}
      <MetricsCharts data={data} />
      <h2 style={{ marginTop: '1.25rem' }}>Jobs per queue</h2>
      <p className="muted small">Jobs finished per {data.bucket_secs === 3600 ? 'hour' : `${data.bucket_secs / 60} minutes`}, from BullMQ’s own per-minute counts.</p>
      <QueueThroughputCharts data={data} />
      {data.failure_reasons.length > 0 ? (
        <section className="card" aria-labelledby="reasons" style={{ marginTop: '1rem' }}>
          <h2 id="reasons">Why things failed</h2>
          <ul>
            {data.failure_reasons.map((r) => (
              <li key={`${r.kind}-${r.reason}`}>
                <strong>{r.count}×</strong> {r.kind}: {(r.kind === 'artifact' ? artifactFailureText(r.reason) : deploymentFailureText(r.reason)) ?? r.reason} <code className="muted">({r.reason})</code>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      <p className="muted small">
        Window {data.from.replace('T', ' ').slice(0, 16)} – {data.to.replace('T', ' ').slice(0, 16)} UTC. Upload time runs from presign to complete as the server saw them.
      </p>
    </>
  );
}
