'use client';
import { useRouter } from 'next/navigation';
import { useEffect, useId, useState } from 'react';
import styles from '../admin.module.css';

/**
 * Live refresh for a server-rendered page: re-renders it from the server every few seconds
 * while the tab is visible (no browser-side API calls or tokens). Can be switched off, e.g.
 * to read a long list without it moving.
 */
export function AutoRefresh({ seconds = 5 }: { seconds?: number }) {
  const router = useRouter();
  const id = useId();
  const [live, setLive] = useState(true);
  const [updated, setUpdated] = useState<string | null>(null);

  useEffect(() => {
    if (!live) return;
    const timer = setInterval(() => {
      if (document.visibilityState !== 'visible') return;
      router.refresh();
      setUpdated(new Date().toISOString().slice(11, 19));
    }, seconds * 1000);
    return () => clearInterval(timer);
  }, [live, router, seconds]);

  return (
    <span className={styles.live}>
      <input id={id} type="checkbox" checked={live} onChange={(e) => setLive(e.target.checked)} />
      <label htmlFor={id}>Live (every {seconds} s)</label>
      {live ? <span className={styles.liveDot} aria-hidden="true" /> : null}
      {updated ? <span className="muted small">updated {updated} UTC</span> : null}
    </span>
  );
}
