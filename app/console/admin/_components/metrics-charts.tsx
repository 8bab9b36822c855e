'use client';
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { formatBytes, formatDuration } from '../../../_components/format';
import type { MetricsDashboard } from '../../../../server/services/admin/metrics.service';
import styles from '../admin.module.css';

const C = { p50: '#2f5bd3', p95: '#d4a72c', ok: '#2da44e', bad: '#cf222e', bytes: '#8250df' };

/** Tick label: times in UTC (like the rest of the portal), with the day on multi-day ranges. */
function tickOf(bucketSecs: number, range: string) {
  return (iso: string) => (range === '7d' ? `${iso.slice(5, 10)} ${iso.slice(11, 13)}h` : iso.slice(11, 16));
}

function Chart({ title, summary, children }: { title: string; summary: string; children: React.ReactElement }) {
  return (
    <figure className={`card ${styles.chart}`}>
      <h2>{title}</h2>
      {/* The chart is a picture; its numbers are also said in words for screen readers. */}
      <p className="sr-only">{summary}</p>
      <div className={styles.chartBox} aria-hidden="true">
        <ResponsiveContainer width="100%" height="100%">{children}</ResponsiveContainer>
      </div>
    </figure>
  );
}

const ms = (v: unknown) => (typeof v === 'number' ? formatDuration(v) : '–');
const bytes = (v: unknown) => (typeof v === 'number' ? formatBytes(v) : '–');
const p = (v: number | null) => (v === null ? 'no data' : formatDuration(v));

/** Grafana-style panels over the dashboard's buckets (data comes from the server component). */
export function MetricsCharts({ data }: { data: MetricsDashboard }) {
  const tick = tickOf(data.bucket_secs, data.range);
  const perLabel = data.bucket_secs === 3600 ? 'per hour' : `per ${data.bucket_secs / 60} min`;
  const t = data.totals;
  const axis = (
    <>
      <CartesianGrid strokeDasharray="3 3" opacity={0.4} />
      <XAxis dataKey="t" tickFormatter={tick} minTickGap={24} fontSize={11} />
    </>
  );
  const tooltipLabel = (label: unknown) => `${String(label).replace('T', ' ').slice(0, 16)} UTC`;
  return (
    <div className={styles.charts}>
      <Chart title={`Upload volume ${perLabel}`} summary={`${t.uploads} uploads, ${formatBytes(t.upload_bytes)} in the window.`}>
        <BarChart data={data.buckets}>
          {axis}
          <YAxis tickFormatter={bytes} width={64} fontSize={11} />
          <Tooltip labelFormatter={tooltipLabel} formatter={(v, name) => (name === 'bytes' ? bytes(v) : String(v))} />
          <Bar dataKey="upload_bytes" name="bytes" fill={C.bytes} isAnimationActive={false} />
        </BarChart>
      </Chart>
      <Chart title="Upload time (presign → complete)" summary={`p50 ${p(t.upload_p50_ms)}, p95 ${p(t.upload_p95_ms)}.`}>
        <LineChart data={data.buckets}>
          {axis}
          <YAxis tickFormatter={ms} width={64} fontSize={11} />
          <Tooltip labelFormatter={tooltipLabel} formatter={ms} />
          <Legend />
          <Line dataKey="upload_p50_ms" name="p50" stroke={C.p50} dot={{ r: 2 }} connectNulls isAnimationActive={false} />
          <Line dataKey="upload_p95_ms" name="p95" stroke={C.p95} dot={{ r: 2 }} connectNulls isAnimationActive={false} />
        </LineChart>
      </Chart>
      <Chart title="Complete → stored (verification)" summary={`p50 ${p(t.stored_p50_ms)}, p95 ${p(t.stored_p95_ms)}.`}>
        <LineChart data={data.buckets}>
          {axis}
          <YAxis tickFormatter={ms} width={64} fontSize={11} />
          <Tooltip labelFormatter={tooltipLabel} formatter={ms} />
          <Legend />
          <Line dataKey="stored_p50_ms" name="p50" stroke={C.p50} dot={{ r: 2 }} connectNulls isAnimationActive={false} />
          <Line dataKey="stored_p95_ms" name="p95" stroke={C.p95} dot={{ r: 2 }} connectNulls isAnimationActive={false} />
        </LineChart>
      </Chart>
      <Chart title={`Deploys ${perLabel}`} summary={`${t.deploys} deployments created in the window.`}>
        <BarChart data={data.buckets}>
          {axis}
          <YAxis allowDecimals={false} width={40} fontSize={11} />
          <Tooltip labelFormatter={tooltipLabel} />
          <Bar dataKey="deploys" name="deploys" fill={C.p50} isAnimationActive={false} />
        </BarChart>
      </Chart>
      <Chart title="Time to running (deploy → serving)" summary={`p50 ${p(t.running_p50_ms)}, p95 ${p(t.running_p95_ms)}.`}>
        <LineChart data={data.buckets}>
          {axis}
          <YAxis tickFormatter={ms} width={64} fontSize={11} />
          <Tooltip labelFormatter={tooltipLabel} formatter={ms} />
          <Legend />
          <Line dataKey="running_p50_ms" name="p50" stroke={C.p50} dot={{ r: 2 }} connectNulls isAnimationActive={false} />
          <Line dataKey="running_p95_ms" name="p95" stroke={C.p95} dot={{ r: 2 }} connectNulls isAnimationActive={false} />
        </LineChart>
      </Chart>
      <Chart title={`Failures ${perLabel}`} summary={`${t.artifact_failures} artifact verifications and ${t.deployment_failures} deployments failed.`}>
        <BarChart data={data.buckets}>
          {axis}
          <YAxis allowDecimals={false} width={40} fontSize={11} />
          <Tooltip labelFormatter={tooltipLabel} />
          <Legend />
          <Bar dataKey="artifact_failures" name="artifacts" stackId="f" fill={C.p95} isAnimationActive={false} />
          <Bar dataKey="deployment_failures" name="deployments" stackId="f" fill={C.bad} isAnimationActive={false} />
        </BarChart>
      </Chart>
    </div>
  );
}

/** Jobs finished per queue: one small panel each, completed over failed. */
export function QueueThroughputCharts({ data }: { data: MetricsDashboard }) {
  const tick = tickOf(data.bucket_secs, data.range);
  return (
    <div className={styles.smallCharts}>
      {data.queues.map((q) => (
        <figure key={q.name} className={`card ${styles.chart}`} data-queue={q.name}>
          <h3>{q.name}</h3>
          <p className="small">
            <span className="notice">{q.completed} succeeded</span> · <span className={q.failed ? 'error' : 'muted'}>{q.failed} failed</span>
          </p>
          <div className={styles.smallChartBox} aria-hidden="true">
            <ResponsiveContainer width="100%" height="100%">
              <BarChart data={q.points}>
                <XAxis dataKey="t" tickFormatter={tick} minTickGap={30} fontSize={10} />
                <YAxis allowDecimals={false} width={32} fontSize={10} />
                <Tooltip labelFormatter={(l) => `${String(l).replace('T', ' ').slice(0, 16)} UTC`} />
                <Bar dataKey="completed" name="succeeded" stackId="j" fill={C.ok} isAnimationActive={false} />
                <Bar dataKey="failed" name="failed" stackId="j" fill={C.bad} isAnimationActive={false} />
              </BarChart>
            </ResponsiveContainer>
          </div>
        </figure>
      ))}
    </div>
  );
}
