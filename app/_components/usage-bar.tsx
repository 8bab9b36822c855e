/** Usage against a limit as a bar (a meter for assistive tech); no limit means an empty track. */
export function UsageBar({ label, used, limit, format }: { label: string; used: number; limit: number | null; format: (n: number) => string }) {
  const ratio = limit ? Math.min(1, used / limit) : 0;
  const tone = limit === null ? 'idle' : ratio >= 1 ? 'bad' : ratio >= 0.8 ? 'warn' : 'ok';
  const text = limit === null ? `${format(used)} used, no limit` : `${format(used)} of ${format(limit)} (${Math.round((used / Math.max(limit, 1)) * 100)}%)`;
  return (
    <div className="usage">
      <div className="row">
        <span>{label}</span>
        <span className="muted">{text}</span>
      </div>
      <div
        className={`bar bar-${tone}`}
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={limit ?? used}
        aria-valuenow={used}
        aria-valuetext={text}
      >
        <span style={{ width: `${ratio * 100}%` }} />
      </div>
    </div>
  );
}
