import type { FastifySchemaCompiler } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import type { $ZodType } from 'zod/v4/core';

/**
 * A route's validator compiler whose body check tries `fast` first: a hand check that returns the parsed body only
 * for bodies that certainly pass the route's schema, else null. Every other body, and so every error message, goes
 * through the zod schema as on any other route. For hot routes whose body the zod parse makes costly.
 */
export function withFastBody<Schema>(fast: (raw: unknown) => unknown): FastifySchemaCompiler<Schema> {
  return (route) => {
    // Fastify hands each part its own schema (the route's zod body schema here), whatever the route's schema type.
    const bySchema = validatorCompiler(route as unknown as Parameters<FastifySchemaCompiler<$ZodType>>[0]);
    if (route.httpPart !== 'body') return bySchema;
    return (data: unknown) => {
      const value = fast(data);
      return value === null ? bySchema(data) : { value };
    };
  };
}

/**
 * A route's serializer compiler that writes the reply with JSON.stringify: for hot routes whose reply the handler
 * builds from typed values, where validating it again with zod on every request buys nothing. The response schema
 * still documents the answer.
 */
export const stringifyReply = () => (data: unknown) => JSON.stringify(data);
