# syntax=docker/dockerfile:1
# The Aether control plane. One image, three commands:
#   web (default)  node --max-semi-space-size=64 --import tsx server/http/main.ts   (Next behind our node:http edge)
#   worker         node --import tsx jobs/main.ts      (the BullMQ workers, AETHER_WORKERS ignored)
#   migrations     node --import tsx jobs/migrate.ts   (the Helm hook / compose one-shot)
# Build from the repository root:  docker build -t aether/control-plane:0.1.0 .
ARG NODE_IMAGE=node:20-bookworm-slim

# Every dependency, dev included: `next build` type-checks and the CLI bundle needs esbuild.
FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
# The postinstall step (patch-package) applies these to node_modules: postgres.js's link-cut fixes.
COPY patches ./patches
# `npm ci` refuses this lockfile (platform builds of next/msgpackr it was made without);
# `npm install` honours the committed lockfile and leaves it unchanged.
RUN --mount=type=cache,target=/root/.npm npm install --no-audit --no-fund

FROM deps AS build
ENV NEXT_TELEMETRY_DISABLED=1
COPY . .
# The build cache is only useful to the next build, not to the running server.
RUN node scripts/build-cli.mjs && npx next build && rm -rf .next/cache

# Production dependencies only; tsx stays (a dependency): web, worker and migrations run through it.
FROM deps AS prod-deps
RUN npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM so web and worker drain, and reaps zombies. HAProxy fronts the
# local runtime's router (compose); the Kubernetes runtime never starts it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini haproxy \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    NEXT_TELEMETRY_DISABLED=1 \
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true \
    PORT=3000 \
    AETHER_DATA_DIR=/data
# Code and dependencies stay owned by root: the server cannot rewrite what it runs.
COPY --from=prod-deps /src/node_modules ./node_modules
COPY --from=build /src/.next ./.next
COPY --from=build /src/dist/cli ./dist/cli
COPY package.json next.config.mjs tsconfig.json ./
# Web, worker and migration job run TypeScript sources through tsx; db/migrations is
# read at boot by every process.
COPY db ./db
COPY server ./server
COPY jobs ./jobs
# The only writable paths (emptyDirs in the Helm chart, so the root filesystem can be read-only).
RUN mkdir -p /data /app/.next/cache && chown 1000:1000 /data /app/.next/cache
# The image's `node` user, numeric so Kubernetes can check runAsNonRoot.
USER 1000:1000
EXPOSE 3000
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--max-semi-space-size=64", "--import", "tsx", "server/http/main.ts", "-H", "0.0.0.0"]
