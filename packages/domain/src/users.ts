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
 * IANA's current names of the zones whose ids in the runtime's data (CLDR's, through ICU) are older names of theirs:
 * the runtime answers `Asia/Calcutta` for `Asia/Kolkata` and `Europe/Kiev` for `Europe/Kyiv`. Clients send the current
 * names, and runtimes whose data has IANA's ids answer with them.
 */
const IANA_NAME_OF_RUNTIME_ID: ReadonlyMap<string, string> = new Map([
  ['Africa/Asmera', 'Africa/Asmara'],
  ['America/Buenos_Aires', 'America/Argentina/Buenos_Aires'],
  ['America/Catamarca', 'America/Argentina/Catamarca'],
  ['America/Coral_Harbour', 'America/Atikokan'],
  ['America/Cordoba', 'America/Argentina/Cordoba'],
  ['America/Godthab', 'America/Nuuk'],
  ['America/Indianapolis', 'America/Indiana/Indianapolis'],
  ['America/Jujuy', 'America/Argentina/Jujuy'],
  ['America/Louisville', 'America/Kentucky/Louisville'],
  ['America/Mendoza', 'America/Argentina/Mendoza'],
  ['Asia/Calcutta', 'Asia/Kolkata'],
  ['Asia/Katmandu', 'Asia/Kathmandu'],
  ['Asia/Rangoon', 'Asia/Yangon'],
  ['Asia/Saigon', 'Asia/Ho_Chi_Minh'],
  ['Atlantic/Faeroe', 'Atlantic/Faroe'],
  ['Europe/Kiev', 'Europe/Kyiv'],
  ['Pacific/Enderbury', 'Pacific/Kanton'],
  ['Pacific/Ponape', 'Pacific/Pohnpei'],
  ['Pacific/Truk', 'Pacific/Chuuk'],
]);

/**
 * The one name a zone is stored under, whatever name or letter case the client used (`us/eastern`, `US/EASTERN`,
 * `EST5EDT` → `America/New_York`; `asia/calcutta` → `Asia/Kolkata`), or null: for names the runtime does not know,
 * NOT_IANA's, and fixed offsets (`+08:00`), which it takes too but which ignore daylight saving time. That name is
 * the runtime's id of the zone, or IANA's current name where the id is an older one; so a zone has one spelling,
 * and readers keyed by it (quiet hours' caches) hold one entry per zone.
 */
function resolveIanaTimeZone(name: string): string | null {
  if (NOT_IANA.test(name)) return null;
  let runtimeId: string;
  try {
    runtimeId = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
  if (runtimeId.startsWith('+') || runtimeId.startsWith('-')) return null;
  return IANA_NAME_OF_RUNTIME_ID.get(runtimeId) ?? runtimeId;
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
 * An IANA time zone, as the one name its zone is stored under (resolveIanaTimeZone), which quiet hours and every
 * other reader of the zone take as it is. (`overwrite`, not `transform`: the OpenAPI documents keep showing a string.)
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
