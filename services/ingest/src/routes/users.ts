import { DeleteUserReply, PutUserBody, UserParams, UserProfile } from '@elevens/domain';
import { errorResponses } from '@elevens/http';
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
      // Without personalization consent their new events are stored anonymously; the past ones are detached from
      // them in the same commit.
      const { profile, revision } = await app.users.upsert(request.params.userId, request.body);
      const written = await app.liveState.writeProfile(profile.userId, {
        personalization: profile.consent.personalization,
        push: profile.consent.push,
        timezone: profile.timezone,
        revision,
      });
      // Not written: a later write or erasure of the user reached Redis first and decides their live state (the
      // erasure's mark must stay).
      if (written && !profile.consent.personalization) await app.liveState.forgetHistory(profile.userId);
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
      const { events, profile, redisKeys } = await app.users.erase(userId, app.liveState);
      return { userId, erased: { events, profile, redisKeys } };
    },
  );
}
