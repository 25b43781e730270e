import { z } from 'zod';
import { ANONYMOUS_USER_PREFIX } from './events';
import { ExternalId } from './ids';

/**
 * Names the runtime's time zone data (ICU) takes that IANA does not: Java's three-letter ids, which read like
 * abbreviations but each stand for one zone of ICU's choosing (CST is Chicago, not China; IST India; BST Bangladesh),
 * and the SystemV zones IANA dropped.
 */
const NOT_IANA =
  /^(?:ACT|AET|AGT|ART|AST|BET|BST|CAT|CNT|CST|CTT|EAT|ECT|IET|IST|JST|MIT|NET|NST|PLT|PNT|PRT|PST|SST|VST|SystemV\/.*)$/i;

/**
 * An IANA time zone name in its proper letter case (`asia/shanghai` → `Asia/Shanghai`), or null: for names the
 * runtime does not know, those above, and fixed offsets (`+08:00`), which it takes too but which ignore daylight
 * saving time. An alias keeps the client's spelling: the runtime's canonical names are its data's older ones
 * (`Europe/Kyiv` would come back as `Europe/Kiev`, `Asia/Kolkata` as `Asia/Calcutta`), the same zones.
 */
function resolveIanaTimeZone(name: string): string | null {
  if (NOT_IANA.test(name)) return null;
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
  if (resolved.startsWith('+') || resolved.startsWith('-')) return null;
  return resolved.toLowerCase() === name.toLowerCase() ? resolved : name;
}

/**
 * Names already resolved: resolving builds an `Intl.DateTimeFormat` (tens of µs) and the schema asks twice per
 * value (its check, then its spelling). Bounded, since a client chooses the names; a few hundred zones exist.
 */
const spellings = new Map<string, string | null>();
const SPELLINGS_KEPT = 1_024;

function ianaTimeZoneSpelling(name: string): string | null {
  const known = spellings.get(name);
  if (known !== undefined) return known;
  const spelling = resolveIanaTimeZone(name);
  if (spellings.size < SPELLINGS_KEPT) spellings.set(name, spelling);
  return spelling;
}

/**
 * An IANA time zone name in its proper letter case, which quiet hours and every other reader of the zone take as
 * it is. (`overwrite`, not `transform`: the OpenAPI documents keep showing a string.)
 */
export const TimeZone = z
  .string()
  .min(1)
  .max(64)
  .refine((name) => ianaTimeZoneSpelling(name) !== null, {
    message: 'not an IANA time zone (a name such as Asia/Shanghai, not an offset or an abbreviation)',
    abort: true,
  })
  .overwrite((name) => ianaTimeZoneSpelling(name) as string);

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
