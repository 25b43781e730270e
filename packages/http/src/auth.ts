import { API_SCOPES, type ApiScope } from '@elevens/domain';
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { z } from 'zod';
import { corsEnv, corsPlugin } from './cors';
import { HttpError, unavailable } from './errors';
import { logPrivacyEnv, urlCarriesSecret } from './logging';
import { pressureEnv, pressureOptionsFromConfig, pressurePlugin } from './pressure';
import { type RateLimitRedis, rateLimitEnv, rateLimitPlugin, rateLimitsFromConfig } from './rate-limit';
import { TIMED_OUT, within } from './within';

export interface ApiKeyIdentity {
  id: string;
  name: string;
  scopes: readonly ApiScope[];
}

/** An active key as the store lists it: its secret's hash, never the secret. */
export interface StoredApiKey extends ApiKeyIdentity {
  secretHash: string;
}

/** Where keys come from (Postgres, through `@elevens/db`'s `apiKeySource`). */
export interface ApiKeySource {
  listActive(): Promise<StoredApiKey[]>;
  /** The hash secrets are stored under; presented secrets are hashed the same way and looked up. */
  hashSecret(secret: string): string;
}

/** A copy of the key table (its JSON) outside Postgres: `@elevens/redis-stores`' `ApiKeyMirror`. */
export interface ApiKeyTableMirror {
  /** the table last written, or null */
  read(): Promise<string | null>;
  write(tableJson: string): Promise<void>;
}

export interface AuthPluginOptions {
  /** false: no route checks keys (tests of other concerns), but a valid key still sets `request.apiKey` */
  required: boolean;
  /** how often the key table is reloaded; a revocation takes effect within this (plus one query) */
  refreshMs: number;
  keys: ApiKeySource;
  /** A copy of the key table in Redis, read only when a process starts while the key source is down. */
  mirror?: ApiKeyTableMirror;
  /** how long a reload waits for the key source before it counts as failed (default 2 s) */
  reloadTimeoutMs?: number;
}

/** How one route is guarded, as it was registered. */
export interface RouteAccess {
  method: string;
  url: string;
  scope: ApiScope | null;
  public: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified key the request presented, or null (none, unknown, revoked or malformed). */
    apiKey: ApiKeyIdentity | null;
  }
  interface FastifyInstance {
    /** Every route registered after the security plugin, with the scope it requires or its public opt-out. */
    routeAccess: readonly RouteAccess[];
    /** Reloads the key table now (the plugin also does so every `refreshMs`). */
    reloadApiKeys(): Promise<void>;
  }
}

/** Environment variables of the security plugins (auth, rate limits, CORS, load shedding, log privacy). */
export const securityEnv = {
  /** how often serving processes reload API keys; a revocation takes effect within this plus one query */
  AUTH_REFRESH_MS: z.coerce.number().int().min(50).max(1000).default(500),
  ...rateLimitEnv,
  ...corsEnv,
  ...pressureEnv,
  ...logPrivacyEnv,
};

/** True when a key holding `scopes` may call a route requiring `required`; `admin` holds every scope. */
export const scopeAllows = (scopes: readonly ApiScope[], required: ApiScope): boolean =>
  scopes.includes(required) || scopes.includes('admin');

/** Longest secret looked at; anything longer is no key of ours, and is not hashed. */
const MAX_SECRET_LENGTH = 256;
const BEARER = /^Bearer[ \t]+([^\s,]+)[ \t]*$/i;

/**
 * The secret a request presents: `authorization: Bearer <secret>`, else `x-api-key: <secret>` (so a proxy's own
 * Basic authorization does not hide the key header). `undefined` when neither header is sent; `null` when what
 * is sent is no well-formed key.
 */
export function presentedSecret(headers: FastifyRequest['headers']): string | null | undefined {
  const authorization = headers.authorization;
  const headerKey = headers['x-api-key'];
  if (authorization === undefined && headerKey === undefined) return undefined;
  const secret = (authorization === undefined ? undefined : BEARER.exec(authorization)?.[1]) ?? headerKey;
  if (typeof secret !== 'string' || secret.length === 0 || secret.length > MAX_SECRET_LENGTH) return null;
  return /^[\x21-\x7e]+$/.test(secret) ? secret : null;
}

const StoredKeys = z.array(
  z.object({
    id: z.string(),
    name: z.string(),
    scopes: z.array(z.enum(API_SCOPES)),
    secretHash: z.string(),
  }),
);

/**
 * How long a reload waits for the key source by default. A connection that stopped answering without failing (a
 * half-open socket, a stalled server) otherwise held the one reload in flight, and every later one, for ever: a
 * revoked key stayed valid and a process starting then never started.
 */
const RELOAD_TIMEOUT_MS = 2_000;

/**
 * Reloads whose query may still hold a pool connection after their time ran out. Past this many, a reload does not
 * query again until one of them settles, so a stalled Postgres does not take the whole pool from the requests.
 */
const MAX_UNSETTLED_LISTS = 2;

const methodsOf = (route: RouteOptions) => (Array.isArray(route.method) ? route.method : [route.method]);

/**
 * Records every route registered after it with the scope it requires or its public opt-out (`app.routeAccess`),
 * and warns at start-up about routes with neither, which the auth plugin refuses to everyone.
 */
export const routeAccessPlugin = fp(
  async (app: FastifyInstance) => {
    // Read when asked, not when registered: a plugin's own onRoute hook may still set `public` after this one.
    const registered: RouteOptions[] = [];
    app.addHook('onRoute', (route) => {
      registered.push(route);
    });
    const routeAccess = (): RouteAccess[] =>
      registered.flatMap((route) =>
        methodsOf(route).map((method) => ({
          method,
          url: route.url,
          scope: route.config?.scope ?? null,
          public: route.config?.public === true,
        })),
      );
    app.decorate('routeAccess', { getter: routeAccess });
    app.addHook('onReady', async () => {
      for (const route of routeAccess()) {
        if (route.scope === null && !route.public && route.method !== 'HEAD') {
          app.log.warn(
            { method: route.method, url: route.url },
            'route declares no scope and is not public: every request to it is refused',
          );
        }
      }
    });
  },
  { name: 'elevens-route-access', fastify: '5.x' },
);

/**
 * API keys on every route. Each route declares `config.scope` (the key must hold it, or `admin`) or opts out
 * with `config.public: true`; a route with neither is refused to every key, so a forgotten scope never opens a
 * route. 401 without a key or with an unknown or revoked one, 403 with one lacking the scope.
 *
 * Verifying is a SHA-256 and a map lookup: the process holds a table of the active keys' hashes, reloaded every
 * `refreshMs`, so no request waits on Postgres and revocations apply within `refreshMs`. When the reload fails
 * the last table stays in use (keys cannot be revoked while Postgres is down anyway); a process starting then
 * reads the copy in Redis.
 */
export const authPlugin = fp(
  async (app: FastifyInstance, options: AuthPluginOptions) => {
    let table: ReadonlyMap<string, ApiKeyIdentity> | null = null;
    let failing = false;
    let loading: Promise<void> | null = null;
    let syncingMirror = false;
    let unsettledLists = 0;
    const reloadTimeoutMs = options.reloadTimeoutMs ?? RELOAD_TIMEOUT_MS;

    const install = (keys: StoredApiKey[]) => {
      table = new Map(keys.map((k) => [k.secretHash, { id: k.id, name: k.name, scopes: k.scopes }]));
    };

    /**
     * Makes the copy in Redis the table just read from Postgres. Compared on every reload, not only when the table
     * changes: Redis may lose the copy (a flush, a restart without persistence) or go back to an older one (a
     * failover that lost a write, so a revoked key listed again), and nothing else would ever write it again.
     */
    const syncMirror = async (mirror: ApiKeyTableMirror, keys: StoredApiKey[]) => {
      const json = JSON.stringify(keys);
      if ((await mirror.read()) !== json) await mirror.write(json);
    };

    const readMirror = async () => {
      if (!options.mirror || table !== null) return;
      const json = await options.mirror.read();
      if (json === null) return;
      install(StoredKeys.parse(JSON.parse(json)));
      app.log.warn('API keys loaded from the Redis copy until their store answers');
    };

    /**
     * The active keys, or a rejection once `reloadTimeoutMs` has passed. A late answer is dropped: a reload started
     * since may have installed a newer table, which it would take back (listing a revoked key again).
     */
    const listWithinTime = async (): Promise<StoredApiKey[]> => {
      if (unsettledLists >= MAX_UNSETTLED_LISTS) {
        throw new Error(`${unsettledLists} earlier reloads of the API keys are still waiting for an answer`);
      }
      unsettledLists++;
      const listing = options.keys.listActive().finally(() => {
        unsettledLists--;
      });
      const keys = await within(listing, reloadTimeoutMs);
      if (keys === TIMED_OUT)
        throw new Error(`the API key store did not answer within ${reloadTimeoutMs} ms`);
      return keys;
    };

    const load = async () => {
      let keys: StoredApiKey[];
      try {
        keys = await listWithinTime();
      } catch (error) {
        if (!failing) app.log.warn({ err: error }, 'could not reload API keys; keeping the last table');
        failing = true;
        await readMirror().catch((mirrorError: unknown) =>
          app.log.warn({ err: mirrorError }, 'could not read the Redis copy of the API keys'),
        );
        return;
      }
      if (failing) app.log.info('API keys reloaded');
      failing = false;
      install(keys);
      // Not awaited: a slow Redis must not hold up the next reload. It is a convenience copy; its outage is
      // reported by the readiness check. One sync at a time, so a stalled Redis gets no queue of them.
      if (options.mirror && !syncingMirror) {
        syncingMirror = true;
        syncMirror(options.mirror, keys)
          .catch(() => {})
          .finally(() => {
            syncingMirror = false;
          });
      }
    };

    const reload = () => {
      loading ??= load().finally(() => {
        loading = null;
      });
      return loading;
    };
    app.decorate('reloadApiKeys', reload);

    await reload();
    const timer = setInterval(reload, options.refreshMs);
    timer.unref();
    app.addHook('onClose', async () => {
      clearInterval(timer);
      await loading;
    });

    app.decorateRequest('apiKey', null);
    /** Why the request may not go on (null: it may); also records the presented key on the request. */
    const refusal = (request: FastifyRequest): HttpError | null => {
      const secret = presentedSecret(request.headers);
      if (secret) request.apiKey = table?.get(options.keys.hashSecret(secret)) ?? null;
      if (!options.required) return null;
      // Fastify builds the route's options object on each read: read once, and only where keys are checked.
      const config = request.routeOptions.config;
      if (config.public === true || request.is404) return null;
      if (secret === undefined) {
        // A key sent in the URL is not read: URLs are logged along the way (proxies, browser history).
        const inUrl = urlCarriesSecret(request.url)
          ? '; a key in the URL is not read, and one sent there should be revoked'
          : '';
        return new HttpError(
          401,
          'unauthorized',
          `an API key is required: send \`authorization: Bearer <key>\` or \`x-api-key: <key>\`${inUrl}`,
        );
      }
      if (secret === null) {
        return new HttpError(401, 'unauthorized', 'malformed API key header: expected `Bearer <key>`');
      }
      if (table === null) return unavailable('API keys cannot be verified yet, retry shortly');
      if (request.apiKey === null) return new HttpError(401, 'unauthorized', 'unknown or revoked API key');
      if (config.scope === undefined) {
        return new HttpError(403, 'forbidden', 'this route declares no scope and is not public');
      }
      if (!scopeAllows(request.apiKey.scopes, config.scope)) {
        return new HttpError(403, 'forbidden', `this key lacks the scope ${config.scope}`);
      }
      return null;
    };
    // A callback hook, not an async one: no promise per request on the path every request takes.
    app.addHook('onRequest', (request, _reply, done) => {
      const refused = refusal(request);
      if (refused) done(refused);
      else done();
    });
  },
  { name: 'elevens-auth', fastify: '5.x' },
);

export type SecurityConfig = z.output<z.ZodObject<typeof securityEnv>> & { AUTH_REQUIRED: boolean };

export interface SecurityPluginOptions {
  config: SecurityConfig;
  keys: ApiKeySource;
  /** the key table's copy in Redis (`app.apiKeyMirror`) */
  keyMirror: ApiKeyTableMirror;
  /** where the rate limits count (`app.rateLimitCounters`) */
  rateLimitCounters: RateLimitRedis;
}

/**
 * CORS, load shedding, API keys and rate limits, in the order a request meets them. Register it before any
 * route: each of them applies to the routes registered after it.
 */
export const securityPlugin = fp(
  async (app: FastifyInstance, { config, keys, keyMirror, rateLimitCounters }: SecurityPluginOptions) => {
    await app.register(routeAccessPlugin);
    await app.register(corsPlugin, { origins: config.CORS_ORIGINS });
    await app.register(pressurePlugin, pressureOptionsFromConfig(config));
    await app.register(authPlugin, {
      required: config.AUTH_REQUIRED,
      refreshMs: config.AUTH_REFRESH_MS,
      keys,
      mirror: keyMirror,
    });
    await app.register(rateLimitPlugin, {
      counters: rateLimitCounters,
      windowMs: config.RATE_LIMIT_WINDOW,
      limits: rateLimitsFromConfig(config),
    });
  },
  { name: 'elevens-security', fastify: '5.x' },
);
