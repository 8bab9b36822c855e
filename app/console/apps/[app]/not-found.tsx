import Link from 'next/link';

export default function AppNotFound() {
  return (
    <section className="card panel-error" role="alert">
      <h1>No such app</h1>
      <p>
        There is no app by that name <code className="muted">(not_found)</code>. <Link href="/console">Back to all apps</Link>
      </p>
    </section>
  );
}
