# The build job (and `migrate`): builds and publishes a model every 15 minutes.
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
WORKDIR /app
COPY --from=deps --chown=node:node /app /app
COPY --chown=node:node migrations ./migrations
USER node

ENTRYPOINT ["node", "packages/cli/bin/elevens.js"]
CMD ["build", "--every", "15m"]
