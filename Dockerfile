# syntax=docker/dockerfile:1
#
# One image for every Herald service; the command chooses what a container runs:
#
#   docker build -t herald .
#   docker run herald migrate          # create the database if missing, apply migrations
#   docker run herald gateway          # any services/<name> with a src/main.ts
#   docker run herald worker-email
#   docker run herald help             # list them
#
# Services run their TypeScript directly with tsx, as `pnpm start` does, so
# there is no compile step. docker/entrypoint.sh maps a name to
# `node --import <tsx> services/<name>/src/main.ts` (and migrate/token to the CLI).
#
# Stages: base (Node + the pinned pnpm) -> source (the repository)
#   -> build (all dependencies; generates the Prisma client)
#   -> prod (production dependencies only, plus the generated client)
#   -> runtime (Node only, non-root).
#
# Dependency install scripts stay off (pnpm 10's default, and --ignore-scripts
# besides): Prisma's would try to download engines, and the client is engine-less.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS base
WORKDIR /app
# Herald needs Node >= 20.19 (package.json engines); fail the build early if
# the base image is older.
RUN node -e 'const [major, minor] = process.versions.node.split(".").map(Number); \
  if (major < 20 || (major === 20 && minor < 19)) { \
    console.error(`Node ${process.version} is too old: Herald needs >= 20.19`); process.exit(1); }'
# The pnpm version pinned by package.json's packageManager, so pnpm never has
# to switch versions itself.
COPY package.json ./
RUN npm install --global --no-audit --no-fund \
    "pnpm@$(node -p 'require("./package.json").packageManager.replace(/^pnpm@/, "").split("+")[0]')" \
  && pnpm --version
ENV CI=true

FROM base AS source
COPY . .

# All dependencies, so the Prisma CLI (a devDependency of @herald/db) can
# generate the client into packages/db/src/generated. Generating needs no
# network: scripts/generate.js points the CLI at a stand-in schema engine.
FROM source AS build
RUN --mount=type=cache,id=herald-pnpm-store,target=/pnpm/store \
    pnpm install --frozen-lockfile --ignore-scripts --store-dir /pnpm/store
RUN pnpm --filter @herald/db generate

# Production dependencies only, of what the image runs: the services and the
# CLI (migrate, token; its tsx runs the TypeScript) with the workspace packages
# they depend on. The filter keeps out @herald/testkit and whatever only it
# needs (smtp-server, selfsigned, postal-mime, ...): a plain `--prod` install
# covers every workspace project. `pnpm deploy` would lift one package out of
# the workspace, but the services run from the workspace layout itself (the
# migration runner reads <root>/prisma/migrations, services import workspace
# packages from source). tests/deployment-files.test.ts resolves these filters
# against the package.json files and pnpm-lock.yaml.
# --ignore-scripts also skips the root postinstall (generate), whose Prisma CLI
# is a devDependency: the generated client comes from the build stage instead.
FROM source AS prod
RUN --mount=type=cache,id=herald-pnpm-store,target=/pnpm/store \
    pnpm install --frozen-lockfile --prod --ignore-scripts --store-dir /pnpm/store \
      --filter '{./services/*}...' --filter '@herald/cli...' \
  && rm -rf packages/testkit
COPY --from=build /app/packages/db/src/generated packages/db/src/generated

# Node alone: pnpm is not needed to run anything.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod /app /app
# Code and dependencies stay root-owned and read-only to the service; only
# ./var (the .eml outbox when no SMTP_URL is set) is writable.
RUN mkdir -p var/outbox && chown -R node:node var && chmod 0755 docker/entrypoint.sh
# The image's own unprivileged user (uid 1000).
USER node
# gateway PORT; METRICS_PORT of worker-email, -telegram, -push, -webhook, scheduler.
EXPOSE 3000 9101 9102 9103 9104 9105
# docker/healthcheck.cjs finds which service this container runs (the process
# started as services/<name>/src/main.ts, or HERALD_SERVICE) and GETs /healthz
# on that service's port: PORT for the gateway, METRICS_PORT for the others,
# with the same defaults as packages/core/src/config. One-shot commands
# (migrate) have nothing to probe and count as healthy. Plain Node, no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/app/docker/healthcheck.cjs"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["help"]
