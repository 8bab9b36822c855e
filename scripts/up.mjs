// `npm run up`: the whole platform on embedded defaults (PGlite, fs storage, local runtime,
// workers in-process) with one command. Installs dependencies, finds or starts Redis, builds
// when needed, creates an admin token on first run, and prints how to log in.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureBubblewrap, ensureDependencies, ensureNftables, ensureRedis } from './lib/services.mjs';

const root = path.resolve(import.meta.dirname, '..');
const dataDir = path.resolve(root, process.env.AETHER_DATA_DIR ?? '.aether');
const port = Number(process.env.PORT ?? 3000);
const publicUrl = process.env.AETHER_PUBLIC_URL ?? `http://127.0.0.1:${port}`;

ensureDependencies(root);
ensureBubblewrap();
ensureNftables();
const redis = await ensureRedis();

if (process.argv.includes('--build') || !existsSync(path.join(root, '.next/BUILD_ID')) || !existsSync(path.join(root, 'dist/cli/aether.mjs'))) {
  const res = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit', env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' } });
  if (res.status !== 0) process.exit(res.status ?? 1);
}

// The first admin token: generated once, kept 0600 in the data dir, never logged by the server.
mkdirSync(dataDir, { recursive: true, mode: 0o700 });
const tokenFile = path.join(dataDir, 'admin-token');
if (!existsSync(tokenFile)) writeFileSync(tokenFile, `aet_${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
const adminToken = readFileSync(tokenFile, 'utf8').trim();
const tokens = [`${adminToken}:admin:admin`, process.env.AETHER_API_TOKENS].filter(Boolean).join(',');

const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'server/http/main.ts'), '-p', String(port), '-H', process.env.HOST ?? '127.0.0.1'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, NODE_ENV: 'production', NEXT_TELEMETRY_DISABLED: '1', AETHER_DATA_DIR: dataDir, AETHER_PUBLIC_URL: publicUrl, REDIS_URL: redis.url, AETHER_API_TOKENS: tokens },
});

// Announce once the control plane is actually ready, not merely spawned.
(async () => {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${publicUrl}/readyz`)).ok) {
        process.stderr.write(
          [
            '',
            `  Aether is up: portal ${publicUrl}`,
            `  admin token:  ${adminToken}   (kept in ${tokenFile})`,
            `  log in:       AETHER_API_BASE=${publicUrl} node ${path.join(root, 'dist/cli/aether.mjs')} login --token ${adminToken}`,
            `                (\`npm link\` once puts \`aether\` on your PATH)`,
            '',
          ].join('\n') + '\n',
        );
        return;
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
})();

const stop = (signal) => child.kill(signal);
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
child.once('exit', (code) => {
  redis.stop();
  process.exit(code ?? 0);
});
