import { z } from 'zod';

/** Every error answer of every route has this shape. */
export const ErrorBody = z
  .object({
    error: z.string().meta({ description: 'Stable machine-readable code, e.g. bad_request.' }),
    message: z.string(),
    details: z.unknown().optional(),
  })
  .meta({ id: 'ErrorBody' });
export type ErrorBody = z.infer<typeof ErrorBody>;

/** `draining`: the process received SIGTERM and serves on until its load balancer takes it out (503). */
export const HealthBody = z.object({ status: z.enum(['ok', 'draining']) });
export const ReadyBody = z.object({
  status: z.enum(['ready', 'unready', 'draining']),
  checks: z.record(z.string(), z.enum(['ok', 'down'])),
});
export type ReadyBody = z.infer<typeof ReadyBody>;
