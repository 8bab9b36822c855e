import type { ReactNode } from 'react';
import { PortalHeader } from './_components/portal-header';
import './globals.css';

export const metadata = { title: { default: 'Aether', template: '%s · Aether' }, description: 'Deploy Node.js services in seconds' };
export const viewport = { width: 'device-width', initialScale: 1 };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <a href="#main" className="skip">Skip to content</a>
        <PortalHeader />
        <main id="main">{children}</main>
      </body>
    </html>
  );
}
