'use client';

/**
 * The last resort for a page that failed to render. Production builds hide server errors'
 * messages (only a digest reaches the browser), so this says what it can and offers a retry;
 * pages show expected failures themselves with their code and message.
 */
export default function ConsoleError({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return (
    <section className="card panel-error" role="alert">
      <h2>This page could not be shown</h2>
      <p>
        Something went wrong on our side <code className="muted">(internal)</code>.
        {error.digest ? <> Reference <code>{error.digest}</code> for the platform team.</> : null}
      </p>
      <button type="button" onClick={reset}>Try again</button>
    </section>
  );
}
