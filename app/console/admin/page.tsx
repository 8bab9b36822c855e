import { redirect } from 'next/navigation';

/** /console/admin has no page of its own: queues are where an admin usually starts. */
export default function AdminIndex() {
  redirect('/console/admin/queues');
}
