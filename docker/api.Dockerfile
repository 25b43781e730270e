# The API service: recommendations and push decisions (port 3000).
# Multi-stage: production dependencies are installed in the first stage; the runtime stage runs as the
# unprivileged node user. Elevens runs its TypeScript through tsx, so there is no compile step.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages ./packages
COPY services ./services
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts \
  && rm -rf packages/*/test services/*/test

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
# A 64 MB young generation: every request allocates short-lived strings and objects, and fewer, emptier scavenges
# cut the API's CPU per request and its tail latency (docs/benchmarks.md, bench:api). The benchmarks start their
# server process with the same flag (tests/bench/server-pair.ts).
ENV NODE_OPTIONS=--max-semi-space-size=64
WORKDIR /app
COPY --from=deps --chown=node:node /app /app
COPY --chown=node:node migrations ./migrations
USER node
EXPOSE 3000
ENTRYPOINT ["node", "packages/cli/bin/elevens.js"]
CMD ["serve", "api"]
