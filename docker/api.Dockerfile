# The API service: recommendations and push decisions (port 3000).
# Multi-stage: the build stage installs every dependency, compiles the workspaces (npm run build), then keeps the
# production dependencies and the compiled dist/ folders only; the runtime stage runs the compiled CLI with node
# (no tsx, no TypeScript sources) as the unprivileged node user. Node 24: the LTS line CI runs the tests on.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.base.json tsconfig.build.json ./
COPY scripts ./scripts
COPY packages ./packages
COPY services ./services
RUN npm ci --no-audit --no-fund --ignore-scripts \
  && npm run build \
  && npm prune --omit=dev --no-audit --no-fund \
  && rm -rf packages/*/src packages/*/test services/*/src services/*/test

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
# A 64 MB young generation: every request allocates short-lived strings and objects, and fewer, emptier scavenges
# cut the API's CPU per request and its tail latency (docs/benchmarks.md, bench:api). The benchmarks start their
# server process with the same flag (API_NODE_FLAGS in tests/bench/servers.ts).
ENV NODE_OPTIONS=--max-semi-space-size=64
WORKDIR /app
COPY --from=build --chown=node:node /app /app
COPY --chown=node:node migrations ./migrations
USER node
EXPOSE 3000
ENTRYPOINT ["node", "packages/cli/dist/main.js"]
CMD ["serve", "api"]
