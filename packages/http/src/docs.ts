import { documentedBodyOf } from '@elevens/domain';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { errorResponses } from './errors';
import { setPageHeaders } from './page-headers';

/**
 * The one `<style>` element Swagger UI's scripts create (the top bar's logo, @fastify/swagger-ui 5.2), by hash:
 * `'unsafe-inline'` would admit any injected style too. tests/docs-csp.test.ts fails when an upgrade changes it.
 */
const SWAGGER_LOGO_STYLE = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='";

/**
 * Swagger UI runs only its own files from /docs/static (the page has no inline script or style); its logo and its
 * stylesheet's icons are `data:` images; it fetches the document and the requests tried from it on this origin.
 * As the dashboard, it may not be framed (its Authorize dialog takes a key), nor take a `<base>` or a form target
 * from injected markup.
 */
const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  `style-src 'self' ${SWAGGER_LOGO_STYLE}`,
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

export interface DocsOptions {
  title: string;
  description: string;
  version: string;
}

/** A route as registered, for checking the document against what the service really serves. */
export interface RegisteredRoute {
  method: string;
  url: string;
  /** response status codes the route declares */
  statuses: string[];
  hidden: boolean;
  scope: string | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered after the docs plugin (HEAD routes excluded). */
    registeredRoutes: readonly RegisteredRoute[];
  }
}

/** The two ways to present an API key, as OpenAPI security schemes. */
export const API_KEY_SECURITY_SCHEMES = {
  bearerKey: {
    type: 'http',
    scheme: 'bearer',
    description: 'An Elevens API key: `authorization: Bearer <secret>`.',
  },
  headerKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'An Elevens API key.' },
} as const;

const DOCS_PREFIX = '/docs';

/**
 * What the load-shedding, auth and rate-limit hooks can answer on every route that needs a key, before the route
 * runs: 503 while the process is overloaded (pressure.ts), 401, 403, 429.
 */
const KEYED_ROUTE_ERRORS = errorResponses(401, 403, 429, 503);

/** Methods Fastify reads a request body for (the others never meet a parser). */
const BODY_METHODS: ReadonlySet<string> = new Set(['DELETE', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'QUERY']);

/**
 * What createBaseApp answers on every route before the route runs: 400 for a query string that does not decode;
 * where a body may come, also 400 for JSON that does not parse, 413 over the body limit and 415 for a body that is
 * not JSON (DELETE included).
 */
const URL_ERRORS = errorResponses(400);
const BODY_ERRORS = errorResponses(400, 413, 415);

const methodsOf = (route: RouteOptions) => (Array.isArray(route.method) ? route.method : [route.method]);

const errorsBeforeRoute = (route: RouteOptions) =>
  methodsOf(route).some((method) => BODY_METHODS.has(method)) ? BODY_ERRORS : URL_ERRORS;

/**
 * OpenAPI 3.1 generated from the zod route schemas, served at `/docs` (Swagger UI) and `/docs/json`, no key
 * needed. Register it before the routes: it documents the routes registered after it.
 */
export const docsPlugin = fp(
  async (app: FastifyInstance, options: DocsOptions) => {
    const registered: RegisteredRoute[] = [];
    app.decorate('registeredRoutes', registered);
    app.addHook('onRoute', (route) => {
      const schema = route.schema as { hide?: boolean; response?: Record<string, unknown> } | undefined;
      for (const method of methodsOf(route)) {
        if (method === 'HEAD') continue;
        registered.push({
          method,
          url: route.url,
          statuses: Object.keys(schema?.response ?? {}),
          hidden: schema?.hide === true || route.url.startsWith(DOCS_PREFIX),
          scope: route.config?.scope,
        });
      }
    });

    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: { title: options.title, description: options.description, version: options.version },
        components: { securitySchemes: API_KEY_SECURITY_SCHEMES },
      },
      transform: (document) => {
        const scope = document.route.config?.scope;
        const declared = document.schema;
        const documentedBody = documentedBodyOf(declared?.body);
        const transformed = jsonSchemaTransform(
          declared
            ? {
                ...document,
                schema: {
                  ...declared,
                  ...(declared.response !== undefined && {
                    response: {
                      ...errorsBeforeRoute(document.route),
                      ...(scope && KEYED_ROUTE_ERRORS),
                      ...(declared.response as object),
                    },
                  }),
                  ...(documentedBody && { body: documentedBody }),
                },
              }
            : document,
        );
        const schema = transformed.schema as Record<string, unknown>;
        if (schema?.hide) return transformed;
        // Routes without a scope (health checks) need no key; the others accept either way of sending one.
        schema.security = scope ? [{ bearerKey: [] }, { headerKey: [] }] : [];
        if (scope) {
          const summary = typeof schema.description === 'string' ? `${schema.description}\n\n` : '';
          schema.description = `${summary}Requires an API key with scope \`${scope}\`; without one the answer is 401, with one lacking the scope 403, over its rate 429, while the service is overloaded 503.`;
        }
        return transformed;
      },
      transformObject: jsonSchemaTransformObject,
    });

    await app.register(async (ui) => {
      ui.addHook('onRoute', (route) => {
        route.config = { ...route.config, public: true };
      });
      // Every answer of the UI's routes (the page, its static files, the document); the service's own routes,
      // outside this scope, pay nothing.
      ui.addHook('onRequest', (_request, reply, done) => {
        setPageHeaders(reply, DOCS_CSP);
        done();
      });
      // The document (~140 KB of JSON) is built once and kept: so is its serialisation, which cost each request
      // of /docs/json a millisecond of CPU. The bytes are the ones the default serialiser gave.
      const documentJson = new WeakMap<object, string>();
      ui.setReplySerializer((payload) => {
        const document = ui.swagger();
        if (payload !== document) return JSON.stringify(payload);
        let json = documentJson.get(document);
        if (json === undefined) {
          json = JSON.stringify(document);
          documentJson.set(document, json);
        }
        return json;
      });
      await ui.register(swaggerUi, { routePrefix: DOCS_PREFIX });
    });
  },
  { name: 'elevens-docs', fastify: '5.x' },
);
