import { describe, expect, it } from 'vitest';
import { PutUserBody, TimeZone } from '../src/index';

const runtimeIdOf = (zone: string) =>
  new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;

/** The runtime's older ids of zones IANA has renamed, and those names (CLDR keeps the old ones as its ids). */
const RENAMED: Record<string, string> = {
  'Africa/Asmera': 'Africa/Asmara',
  'America/Buenos_Aires': 'America/Argentina/Buenos_Aires',
  'America/Catamarca': 'America/Argentina/Catamarca',
  'America/Coral_Harbour': 'America/Atikokan',
  'America/Cordoba': 'America/Argentina/Cordoba',
  'America/Godthab': 'America/Nuuk',
  'America/Indianapolis': 'America/Indiana/Indianapolis',
  'America/Jujuy': 'America/Argentina/Jujuy',
  'America/Louisville': 'America/Kentucky/Louisville',
  'America/Mendoza': 'America/Argentina/Mendoza',
  'Asia/Calcutta': 'Asia/Kolkata',
  'Asia/Katmandu': 'Asia/Kathmandu',
  'Asia/Rangoon': 'Asia/Yangon',
  'Asia/Saigon': 'Asia/Ho_Chi_Minh',
  'Atlantic/Faeroe': 'Atlantic/Faroe',
  'Europe/Kiev': 'Europe/Kyiv',
  'Pacific/Enderbury': 'Pacific/Kanton',
  'Pacific/Ponape': 'Pacific/Pohnpei',
  'Pacific/Truk': 'Pacific/Chuuk',
};

describe('a profile’s time zone is stored under one name per zone', () => {
  it.each([
    ['us/eastern', 'America/New_York'],
    ['US/EASTERN', 'America/New_York'],
    ['US/Eastern', 'America/New_York'],
    ['EST5EDT', 'America/New_York'],
    ['america/new_york', 'America/New_York'],
    ['ASIA/KOLKATA', 'Asia/Kolkata'],
    ['asia/calcutta', 'Asia/Kolkata'],
    ['Asia/Calcutta', 'Asia/Kolkata'],
    ['europe/kiev', 'Europe/Kyiv'],
    ['EUROPE/KYIV', 'Europe/Kyiv'],
    ['etc/utc', 'UTC'],
    ['Etc/GMT', 'UTC'],
  ])('stores %s as %s', (zone, stored) => {
    expect(PutUserBody.parse({ timezone: zone })).toEqual({ timezone: stored });
  });

  it('gives every casing of an alias the name of the zone it stands for, which answers itself', () => {
    const aliases = [
      'US/Pacific',
      'US/Central',
      'GB',
      'Japan',
      'PRC',
      'Asia/Calcutta',
      'Europe/Kiev',
      'Universal',
    ];
    for (const alias of aliases) {
      const stored = TimeZone.parse(alias);
      expect(runtimeIdOf(stored)).toBe(runtimeIdOf(alias));
      expect(TimeZone.parse(stored)).toBe(stored);
      for (const casing of [alias.toLowerCase(), alias.toUpperCase()])
        expect(TimeZone.parse(casing)).toBe(stored);
    }
  });

  it('answers each of the runtime’s zones as itself or, for an id IANA renamed, as its new name', () => {
    for (const zone of Intl.supportedValuesOf('timeZone'))
      expect(TimeZone.parse(zone)).toBe(RENAMED[zone] ?? zone);
  });

  it.each(['America/Argentina/Buenos_Aires', 'America/Port-au-Prince', 'Africa/Dar_es_Salaam', 'Etc/GMT+5'])(
    'answers %s in any letter case as itself',
    (zone) => {
      for (const casing of [zone.toLowerCase(), zone.toUpperCase()])
        expect(TimeZone.parse(casing)).toBe(zone);
    },
  );

  it('still refuses offsets and the abbreviations IANA does not name, in any case', () => {
    for (const zone of ['+05:30', 'IST', 'ist', 'cst', 'SYSTEMV/EST5EDT', 'Mars/Base'])
      expect(TimeZone.safeParse(zone).success).toBe(false);
  });
});
