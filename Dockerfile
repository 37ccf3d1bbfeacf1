# One image for every process of `docker compose up`: the orchestrator (the engine's API, dashboard and supervisor)
# and the drone-delivery demo's agents and participant services; the compose file picks the command.
# Build stage: install with dev dependencies (workspaces: the packages under libs/, the demo's sagas/), compile,
# then drop the dev dependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY . .
RUN npm ci --no-audit --no-fund
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: compiled code and production dependencies only, as the unprivileged `node` user. The packages are
# workspaces (node_modules/@saga-engine/* link to libs/*), so their built files come along. Without dev
# dependencies there is no embedded PostgreSQL: give it DATABASE_URL (and REDIS_URL), as docker-compose.yml does.
# test/dockerfile-commands.e2e-spec.ts runs this file's npm commands and CMD outside Docker.
FROM node:24-bookworm-slim
# Two glibc malloc arenas: with one per thread, RSS creeps up under load while the JS heap stays flat (npm run bench).
# A 32 MB young generation: the HTTP path allocates a lot per request, and fewer scavenges cost less CPU per saga.
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 MALLOC_ARENA_MAX=2 NODE_OPTIONS=--max-semi-space-size=32
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/libs ./libs
COPY --from=build --chown=node:node /app/sagas ./sagas
RUN mkdir -p /app/.saga-data && chown node:node /app/.saga-data
USER node
EXPOSE 3000
CMD ["node", "dist/apps/orchestrator/main.js"]
