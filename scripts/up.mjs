// `npm run up`: the whole platform on embedded defaults (PGlite, fs storage, local runtime,
// workers in-process) with one command. Installs dependencies, finds or starts Redis, builds
// when needed, creates an admin token and the secrets key on first run, and prints how to log in.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureBubblewrap, ensureDependencies, ensureHaproxy, ensureNftables, ensureRedis } from './lib/services.mjs';

const root = path.resolve(import.meta.dirname, '..');
const dataDir = path.resolve(root, process.env.AETHER_DATA_DIR ?? '.aether');
const port = Number(process.env.PORT ?? 3000);
const publicUrl = process.env.AETHER_PUBLIC_URL ?? `http://127.0.0.1:${port}`;

ensureDependencies(root);
ensureBubblewrap();
ensureNftables();
ensureHaproxy();
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

// The key of config secrets at rest, made the same way and never printed (losing it loses every
// secret), unless one is given: AETHER_SECRETS_KEY or AETHER_SECRETS_KEY_FILE.
const secretsKeyEnv = {};
if (!process.env.AETHER_SECRETS_KEY && !process.env.AETHER_SECRETS_KEY_FILE) {
  const secretsKeyFile = path.join(dataDir, 'secrets.key');
  if (!existsSync(secretsKeyFile)) writeFileSync(secretsKeyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  secretsKeyEnv.AETHER_SECRETS_KEY_FILE = secretsKeyFile;
}

// Every app answers behind the local runtime's router, at `<app>.localhost:<port>`.
const routerPort = process.env.AETHER_ROUTER_PORT ?? '8080';
const routerDomain = process.env.AETHER_ROUTER_DOMAIN ?? 'localhost';

const child = spawn(process.execPath, ['--max-semi-space-size=64', '--import', 'tsx', path.join(root, 'server/http/main.ts'), '-p', String(port), '-H', process.env.HOST ?? '127.0.0.1'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, NODE_ENV: 'production', NEXT_TELEMETRY_DISABLED: '1', AETHER_DATA_DIR: dataDir, AETHER_PUBLIC_URL: publicUrl, REDIS_URL: redis.url, AETHER_API_TOKENS: tokens, ...secretsKeyEnv },
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
            `  apps answer:  http://<app>.${routerDomain}:${routerPort}   (the router; AETHER_ROUTER_PORT)`,
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
