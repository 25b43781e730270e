/**
 * The one owner of a push reservation's layout: a member of a user's sends zset (score = reservation ms) is
 *   flag (1 byte: c = counted by caps, l = counted by caps and checked against them at low priority (a
 *   low-priority message's lower limits), o = counted by caps but sent past them by an admin's override,
 *   x = exempt), channel code (1 byte), decision uuid (36 bytes), campaign byte length (3 digits), category byte length
 *   (3 digits), then campaign, category and the item claimed for the decision ('' until then).
 * It is the only record of a reservation: caps count it, the duplicate-campaign check reads its campaign, a release
 * finds it by score and uuid. The fixed-width head keeps the per-reservation scan in push-decide.lua to a few byte
 * compares. The push scripts get these offsets as RESERVATION_LUA_PREAMBLE, prepended when they are loaded.
 */
export const RESERVATION = {
  flag: 0,
  channel: 1,
  uuid: 2,
  uuidLength: 36,
  campaignLength: 38,
  categoryLength: 41,
  /** digits of each length field */
  lengthDigits: 3,
  /** bytes before the campaign */
  head: 44,
} as const;

/** One byte per channel in reservations and rules ('*': a rule over every channel). */
export const CHANNEL_CODES: Readonly<Record<string, string>> = {
  push: 'p',
  email: 'e',
  sms: 's',
  inapp: 'i',
  any: '*',
};
const CHANNELS_BY_CODE = new Map(Object.entries(CHANNEL_CODES).map(([channel, code]) => [code, channel]));

/** The channel of a reservation's channel code ('' for none known). */
export const channelOfCode = (code: string): string => CHANNELS_BY_CODE.get(code) ?? '';

export function channelCode(channel: string): string {
  const code = CHANNEL_CODES[channel];
  if (code === undefined) throw new Error(`no script code for push channel ${channel}`);
  return code;
}

/**
 * The layout as Lua locals with 1-based positions (Lua strings count from 1), on one line so the scripts' own
 * line numbers in Redis errors move by one only.
 */
export const RESERVATION_LUA_PREAMBLE =
  'local RESERVATION_UUID_FIRST, RESERVATION_UUID_LAST, RESERVATION_CAMPAIGN_LENGTH, RESERVATION_CATEGORY_LENGTH, RESERVATION_HEAD = ' +
  [
    RESERVATION.uuid + 1,
    RESERVATION.uuid + RESERVATION.uuidLength,
    RESERVATION.campaignLength + 1,
    RESERVATION.categoryLength + 1,
    RESERVATION.head,
  ].join(', ') +
  '\n';

/** A reservation as the sends zset holds it. */
export interface PushReservation {
  uuid: string;
  /** false: exempt from caps (transactional) */
  counted: boolean;
  /** counted, but sent without being checked against caps or quiet hours (an admin's override) */
  overridden: boolean;
  /** counted, and checked against caps at low priority (a reservation older than the flag reads as not) */
  lowPriority: boolean;
  channel: string;
  category: string | null;
  campaignId: string;
  /** the item claimed for the decision, null if none */
  itemId: string | null;
}

const EXEMPT_FLAG = 'x'.charCodeAt(0);
const OVERRIDDEN_FLAG = 'o'.charCodeAt(0);
const LOW_PRIORITY_FLAG = 'l'.charCodeAt(0);
const lengthAt = (member: Buffer, offset: number) =>
  Number(member.toString('latin1', offset, offset + RESERVATION.lengthDigits));

export function parsePushReservation(member: Buffer): PushReservation {
  const campaignEnd = RESERVATION.head + lengthAt(member, RESERVATION.campaignLength);
  const categoryEnd = campaignEnd + lengthAt(member, RESERVATION.categoryLength);
  const category = member.toString('utf8', campaignEnd, categoryEnd);
  const itemId = member.toString('utf8', categoryEnd);
  return {
    uuid: member.toString('latin1', RESERVATION.uuid, RESERVATION.uuid + RESERVATION.uuidLength),
    counted: member[RESERVATION.flag] !== EXEMPT_FLAG,
    overridden: member[RESERVATION.flag] === OVERRIDDEN_FLAG,
    lowPriority: member[RESERVATION.flag] === LOW_PRIORITY_FLAG,
    channel: channelOfCode(member.toString('latin1', RESERVATION.channel, RESERVATION.channel + 1)),
    category: category === '' ? null : category,
    campaignId: member.toString('utf8', RESERVATION.head, campaignEnd),
    itemId: itemId === '' ? null : itemId,
  };
}
