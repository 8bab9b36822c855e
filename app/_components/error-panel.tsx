import type { ShownError } from './describe-error';

/** A failed load, as the code's title and the server's message (never a stack). */
export function ErrorPanel({ error, what }: { error: ShownError; what?: string }) {
  return (
    <section className="card panel-error" role="alert" aria-live="assertive">
      <h2>{error.title}</h2>
      <p>
        {what ? `${what}: ` : null}
        {error.message} <code className="muted">({error.code})</code>
      </p>
    </section>
  );
}

export function Empty({ children }: { children: React.ReactNode }) {
  return <p className="empty">{children}</p>;
}
