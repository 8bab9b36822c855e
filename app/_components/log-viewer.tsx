'use client';
import { useCallback, useEffect, useRef, useState } from 'react';

interface LogLine {
  time: string | null;
  source: string;
  line: string;
}
type StreamState = { kind: 'connecting' } | { kind: 'live' } | { kind: 'ended' } | { kind: 'error'; message: string };

/** The browser keeps this many lines; older ones scroll away (the CLI can fetch everything). */
const MAX_LINES = 5_000;

/**
 * A deployment's output, streamed from the portal's NDJSON route. Follows new lines when
 * `follow` is set, keeps the view pinned to the bottom unless the reader scrolled up, and
 * says plainly whether it is live, finished or broken.
 */
export function LogViewer({ src, follow, label }: { src: string; follow: boolean; label: string }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [state, setState] = useState<StreamState>({ kind: 'connecting' });
  const [attempt, setAttempt] = useState(0);
  const box = useRef<HTMLPreElement>(null);
  const pinned = useRef(true);

  useEffect(() => {
    const abort = new AbortController();
    setLines([]);
    setState({ kind: 'connecting' });
    (async () => {
      const res = await fetch(src, { signal: abort.signal, headers: { accept: 'application/x-ndjson' } });
      if (!res.ok || !res.body) {
        const err = (await res.json().catch(() => null)) as { code?: string; message?: string } | null;
        setState({ kind: 'error', message: err?.message ? `${err.message} (${err.code})` : `HTTP ${res.status}` });
        return;
      }
      setState({ kind: follow ? 'live' : 'connecting' });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let rest = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const parts = (rest + value).split('\n');
        rest = parts.pop() ?? '';
        const fresh = parts.filter(Boolean).map((p) => JSON.parse(p) as LogLine);
        if (fresh.length) setLines((old) => [...old, ...fresh].slice(-MAX_LINES));
      }
      setState({ kind: 'ended' });
    })().catch((err: unknown) => {
      if (!abort.signal.aborted) setState({ kind: 'error', message: err instanceof Error ? err.message : 'connection lost' });
    });
    return () => abort.abort();
  }, [src, follow, attempt]);

  useEffect(() => {
    if (pinned.current && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines]);

  const onScroll = useCallback(() => {
    const el = box.current;
    if (el) pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
  }, []);

  const status =
    state.kind === 'live' ? 'Live: new lines appear as the app writes them'
    : state.kind === 'connecting' ? (follow ? 'Connecting…' : 'Loading…')
    : state.kind === 'ended' ? `End of output (${lines.length} lines)`
    : `Could not read the logs: ${state.message}`;

  return (
    <div className="logs">
      <div className="row">
        <p className={`log-state log-state-${state.kind}`} role="status" aria-live="polite">
          <span className="dot" aria-hidden="true" /> {status}
        </p>
        {state.kind === 'ended' || state.kind === 'error' ? (
          <button type="button" className="secondary" onClick={() => setAttempt((n) => n + 1)}>
            {follow ? 'Reconnect' : 'Reload'}
          </button>
        ) : null}
      </div>
      <pre ref={box} className="log-box" tabIndex={0} role="log" aria-label={label} onScroll={onScroll}>
        {lines.length === 0 && state.kind !== 'connecting' ? <span className="muted">No output.</span> : null}
        {lines.map((l, i) => (
          <span key={i} className={`log-line log-${l.source}`}>
            {l.time ? <span className="log-time">{l.time.slice(11, 23)} </span> : null}
            {l.line}
            {'\n'}
          </span>
        ))}
      </pre>
    </div>
  );
}
