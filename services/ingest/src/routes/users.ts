import { anonymiseUserEvents, eraseUser, upsertUser } from '@elevens/db';
import { DeleteUserReply, PutUserBody, UserParams, UserProfile } from '@elevens/domain';
import { errorResponses } from '@elevens/http';
import { eraseUserLiveState, forgetUserHistory, writeUserProfile } from '@elevens/redis-stores';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

export async function userRoutes(app: FastifyInstance) {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  routes.put(
    '/v1/users/:userId',
    {
      config: { scope: 'events:write' },
      schema: {
        tags: ['users'],
        summary:
          "Set a user's time zone and consent; without personalization consent their events are kept only anonymously.",
        params: UserParams,
        body: PutUserBody,
        response: { 200: UserProfile, ...errorResponses(400, 415, 503) },
      },
    },
    async (request) => {
      const profile = await upsertUser(app.pg, request.params.userId, request.body);
      await writeUserProfile(app.redis, app.keys, profile.userId, {
        personalization: profile.consent.personalization,
        push: profile.consent.push,
        timezone: profile.timezone,
      });
      if (!profile.consent.personalization) {
        // From now on their new events are stored anonymously; the past ones are detached from them too.
        await anonymiseUserEvents(app.pg, profile.userId);
        await forgetUserHistory(app.redis, app.keys, profile.userId);
      }
      return profile;
    },
  );
  routes.delete(
    '/v1/users/:userId',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['users'],
        summary: "Erase a user's events, profile and every Redis key about them.",
        params: UserParams,
        response: { 200: DeleteUserReply, ...errorResponses(400, 503) },
      },
    },
    async (request) => {
      const { userId } = request.params;
      const rows = await eraseUser(app.pg, userId);
      const redisKeys = await eraseUserLiveState(app.redis, app.keys, userId);
      return { userId, erased: { events: rows.events, profile: rows.profile, redisKeys } };
    },
  );
}
