import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CatalogItem, ExternalId, isExternalId, PutUserBody, TimeZone, UpsertItemsBody } from '../src/index';

const issuesOf = (result: {
  success: boolean;
  error?: { issues: { path: PropertyKey[]; message: string }[] };
}) => (result.error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`);

describe('TimeZone', () => {
  it.each(['+08:00', '-0530', '+08', '+00:00'])(
    'refuses the fixed offset %s: it ignores daylight saving time and is no IANA name',
    (zone) => {
      expect(issuesOf(PutUserBody.safeParse({ timezone: zone }))).toEqual([
        'timezone: not an IANA time zone (a name such as Asia/Shanghai, not an offset or an abbreviation)',
      ]);
    },
  );

  it.each(['CST', 'cst', 'IST', 'BST', 'PST', 'JST', 'SystemV/EST5'])(
    'refuses %s, which the runtime takes for one zone but IANA does not name (CST is Chicago to it)',
    (zone) => {
      expect(TimeZone.safeParse(zone).success).toBe(false);
    },
  );

  it.each([
    ['asia/shanghai', 'Asia/Shanghai'],
    ['ASIA/SHANGHAI', 'Asia/Shanghai'],
    ['Asia/Shanghai', 'Asia/Shanghai'],
    ['utc', 'UTC'],
    ['UTC', 'UTC'],
    ['etc/gmt-14', 'Etc/GMT-14'],
    ['Europe/Berlin', 'Europe/Berlin'],
    ['US/Eastern', 'America/New_York'],
    ['us/eastern', 'America/New_York'],
    ['Europe/Kyiv', 'Europe/Kyiv'],
    ['Asia/Kolkata', 'Asia/Kolkata'],
  ])(
    'takes the IANA name %s in its proper letter case, %s (an alias as the name of its zone)',
    (zone, resolved) => {
      expect(PutUserBody.parse({ timezone: zone })).toEqual({ timezone: resolved });
    },
  );

  // The documents' components are drawn as zod outputs: a transform's would be `{}`.
  it('shows in the OpenAPI documents as the string it takes', () => {
    expect(z.toJSONSchema(TimeZone, { io: 'output', unrepresentable: 'any' })).toMatchObject({
      type: 'string',
      minLength: 1,
      maxLength: 64,
    });
  });

  it('names only zones the runtime answers with again as they are', () => {
    for (const zone of Intl.supportedValuesOf('timeZone')) {
      const resolved = TimeZone.parse(zone);
      expect(TimeZone.parse(resolved)).toBe(resolved);
    }
  });
});

describe('ExternalId', () => {
  it.each(['\ud800', 'a\udc00', '\udc00\ud800', 'x\udbff'])(
    'refuses an unpaired surrogate (%j), which UTF-8 would turn into U+FFFD',
    (id) => {
      expect(issuesOf(ExternalId.safeParse(id))).toEqual([': must not contain unpaired UTF-16 surrogates']);
      expect(isExternalId(id)).toBe(false);
    },
  );

  it('takes surrogate pairs (emoji)', () => {
    expect(ExternalId.safeParse('gift-\ud83c\udf81').success).toBe(true);
    expect(isExternalId('gift-\ud83c\udf81')).toBe(true);
  });

  it('agrees with its hand check on any string', () => {
    const anyString = fc.oneof(
      fc.string({ maxLength: 140 }),
      fc.string({ unit: 'binary', maxLength: 8 }),
      fc
        .array(fc.constantFrom('a', '\u0000', '\ud800', '\udc00', '\ud83c\udf81'), { maxLength: 6 })
        .map((parts) => parts.join('')),
    );
    fc.assert(
      fc.property(anyString, (id) => {
        expect(isExternalId(id)).toBe(ExternalId.safeParse(id).success);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('CatalogItem', () => {
  it.each([
    ['title', { title: 'bag \ud800' }],
    ['tags.0', { tags: ['\udc00'] }],
    ['categoryId', { categoryId: 'bags\ud800' }],
    ['itemId', { itemId: '\ud800' }],
  ])('refuses an unpaired surrogate in %s, naming it', (path, fields) => {
    const issues = issuesOf(UpsertItemsBody.safeParse({ items: [{ itemId: 'i1', ...fields }] }));
    expect(issues).toEqual([`items.0.${path}: must not contain unpaired UTF-16 surrogates`]);
  });

  it.each([
    ['title', { title: 'a\u0000b' }],
    ['tags.1', { tags: ['ok', 'a\u0000b'] }],
  ])('refuses NUL in %s, naming it (Postgres text cannot hold one)', (path, fields) => {
    const issues = issuesOf(UpsertItemsBody.safeParse({ items: [{ itemId: 'i1', ...fields }] }));
    expect(issues).toEqual([`items.0.${path}: must not contain NUL characters`]);
  });

  it('takes prices up to the largest numeric(14, 2) holds, and no more', () => {
    expect(CatalogItem.safeParse({ itemId: 'i1', price: 999_999_999_999.99 }).success).toBe(true);
    for (const price of [1e12, 999_999_999_999.996, 1e308, Number.MAX_VALUE]) {
      expect(issuesOf(CatalogItem.safeParse({ itemId: 'i1', price }))).toEqual([
        'price: Too big: expected number to be <=999999999999.99',
      ]);
    }
  });
});
