import type { ServedModelStatus } from '@elevens/http';
import type { FastifyInstance } from 'fastify';

/** The served model's version and build time for the metrics gauges; null before the first build. */
export function servedModelStatus(app: FastifyInstance): ServedModelStatus | null {
  const snapshot = app.model?.current() ?? null;
  if (!snapshot) return null;
  const builtAtMs = Number(snapshot.meta.builtAt);
  return { version: snapshot.version, builtAtMs: Number.isFinite(builtAtMs) ? builtAtMs : Date.now() };
}
