import { z } from 'zod';
import { ANONYMOUS_USER_PREFIX } from './events';
import { ExternalId } from './ids';

const isIanaTimeZone = (tz: string): boolean => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

export const TimeZone = z
  .string()
  .min(1)
  .max(64)
  .refine(isIanaTimeZone, { message: 'not an IANA time zone' });

export const Consent = z.object({ personalization: z.boolean(), push: z.boolean() });
export type Consent = z.infer<typeof Consent>;

/** A user's id; never one of the pseudonyms anonymised events are stored under, which name no user. */
export const UserParams = z.object({
  userId: ExternalId.refine((s) => !s.startsWith(ANONYMOUS_USER_PREFIX), {
    message: `must not start with ${ANONYMOUS_USER_PREFIX}`,
  }),
});

export const PutUserBody = z
  .object({ timezone: TimeZone.optional(), consent: Consent.optional() })
  .meta({ id: 'PutUserBody' });
export type PutUserBody = z.infer<typeof PutUserBody>;

export const UserProfile = z.object({
  userId: ExternalId,
  timezone: z.string().nullable(),
  consent: Consent,
  updatedAt: z.string(),
});
export type UserProfile = z.infer<typeof UserProfile>;

export const DeleteUserReply = z.object({
  userId: ExternalId,
  erased: z.object({ events: z.number().int(), profile: z.boolean(), redisKeys: z.number().int() }),
});
export type DeleteUserReply = z.infer<typeof DeleteUserReply>;
