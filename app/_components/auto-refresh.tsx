'use client';
import { useRouter } from 'next/navigation';
import { useEffect } from 'react';

/**
 * Re-renders the page from the server every `everyMs` while `active` (work in flight), so a
 * queued or rolling-out deployment moves on screen without a manual reload; idle pages stay quiet.
 */
export function AutoRefresh({ active, everyMs = 1500 }: { active: boolean; everyMs?: number }) {
  const router = useRouter();
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') router.refresh();
    }, everyMs);
    return () => clearInterval(timer);
  }, [active, everyMs, router]);
  return active ? <p className="muted small" role="status">Work in progress: this page updates by itself.</p> : null;
}
