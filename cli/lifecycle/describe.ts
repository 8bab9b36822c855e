import type { TApp } from '../../server/contract/outputs';

const plural = (n: number) => `${n} instance${n === 1 ? '' : 's'}`;

/** "healthy (3/3 instances ready)": the health with the runtime's words, or "-" before any report. */
export function healthText(app: Pick<TApp, 'health' | 'health_message'>): string {
  if (!app.health) return '-';
  return app.health_message ? `${app.health} (${app.health_message})` : app.health;
}

/** The lines every lifecycle command and `apps get` print about an app. */
export function describeApp(app: TApp, extra: [string, string][] = []): string {
  const rows: [string, string][] = [
    ['url', app.url ?? '-'],
    ['instances', app.instances === 0 ? '0 (stopped)' : plural(app.instances)],
    ['health', healthText(app)],
    ...extra,
  ];
  return rows.map(([k, v]) => `  ${k.padEnd(10)} ${v}`).join('\n');
}

export { plural };
