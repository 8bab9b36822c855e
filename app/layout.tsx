import type { ReactNode } from 'react';
import './globals.css';

export const metadata = { title: 'Aether', description: 'Deploy Node.js services in seconds' };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <header className="top">
          <a href="/" className="brand">Aether</a>
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
}
