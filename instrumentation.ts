/**
 * Next.js calls `register` once when the server starts, before it serves requests. The Node
 * part lives in its own module so the Edge compile never sees it.
 */
export async function register() {
  if (process.env.NEXT_RUNTIME === 'nodejs') {
    const { registerNode } = await import('./instrumentation-node');
    await registerNode();
  }
}
