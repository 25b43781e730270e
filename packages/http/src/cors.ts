import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { z } from 'zod';

const isOrigin = (value: string) => {
  if (value === '*') return true;
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value;
  } catch {
    return false;
  }
};

export const corsEnv = {
  /**
   * Comma-separated origins whose pages may call the service from a browser (`https://shop.example`, or `*`);
   * empty (the default) sends no CORS headers, so browsers keep cross-origin pages out.
   */
  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((text) =>
      text
        .split(',')
        .map((origin) => origin.trim())
        .filter((origin) => origin.length > 0),
    )
    .refine((origins) => origins.every(isOrigin), {
      message: 'comma-separated origins such as https://shop.example (scheme, host, optional port), or *',
    }),
};

/** Headers of an answer a page may read besides the safelisted ones. */
const EXPOSED_HEADERS = [
  'x-request-id',
  'retry-after',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
] as const;

export interface CorsPluginOptions {
  origins: readonly string[];
}

/**
 * CORS for storefront pages, which may hold a read-only key. Keys travel in headers, never cookies, so no
 * credentials mode. Register first: preflights are answered in its hook, before load shedding and keys (a
 * browser sends no key on a preflight), and error answers carry the headers a page needs to read them.
 */
export const corsPlugin = fp(
  async (app: FastifyInstance, options: CorsPluginOptions) => {
    if (options.origins.length === 0) return;
    const anyOrigin = options.origins.includes('*');
    // The answers the base app gives before any hook (shutting down, a URL that does not decode) get the headers
    // @fastify/cors's hook gives every other answer.
    app.addEarlyAnswerHeaders((request, reply) => {
      const origin = request.headers.origin;
      if (anyOrigin) reply.header('access-control-allow-origin', '*');
      else {
        reply.header('vary', 'Origin');
        if (origin !== undefined && options.origins.includes(origin))
          reply.header('access-control-allow-origin', origin);
      }
      reply.header('access-control-expose-headers', EXPOSED_HEADERS.join(', '));
    });
    // @fastify/cors registers `OPTIONS *` so preflights find a route; it needs no key.
    app.addHook('onRoute', (route) => {
      if (route.method === 'OPTIONS' && route.url === '*') route.config = { ...route.config, public: true };
    });
    await app.register(cors, {
      origin: anyOrigin ? '*' : [...options.origins],
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'],
      allowedHeaders: ['authorization', 'x-api-key', 'content-type', 'x-request-id'],
      exposedHeaders: [...EXPOSED_HEADERS],
      maxAge: 600,
      credentials: false,
      // Strict mode answers an OPTIONS request without Origin or Access-Control-Request-Method 400 in plain text,
      // outside the error shape, while 405 answers list OPTIONS as a method that works. Answering it as a
      // preflight is harmless: the allowed origin still depends on the Origin sent.
      strictPreflight: false,
    });
  },
  { name: 'elevens-cors', fastify: '5.x' },
);
