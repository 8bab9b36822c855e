import { redirect } from 'next/navigation';

/** The API lives at the root (REST); people belong in the portal. */
export default function RootPage() {
  redirect('/console');
}
