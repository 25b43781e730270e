import { z } from 'zod';

/** One entity tag as GET answers it (the version, quoted); `W/` too, which a compressing proxy may add. */
const ENTITY_TAG = /^(?:W\/)?"(\d{1,15})"$/;
const IF_MATCH = /^(?:\*|(?:W\/)?"\d{1,15}"(?:[ \t]*,[ \t]*(?:W\/)?"\d{1,15}")*)$/;

/** The If-Match of a change to a versioned resource (boost rules, a push rule, the quiet hours). */
export const IfMatchHeaders = z.looseObject({
  'if-match': z
    .string()
    .trim()
    .regex(IF_MATCH, 'the version GET answered as ETag, quoted (such as "7"), a list of them, or *')
    .optional()
    .meta({
      description:
        'Stores the change only while the version in force is the one named (the ETag GET answered): else 412, nothing stored, with the version in force. Without it, or with *, the last write wins.',
    }),
});

/** The versions an If-Match header that `IfMatchHeaders` let through names; undefined for `*` or none. */
export function ifMatchVersions(header: string | undefined): number[] | undefined {
  const value = header?.trim();
  if (value === undefined || value === '*') return undefined;
  return value.split(',').map((tag) => Number(ENTITY_TAG.exec(tag.trim())![1]));
}
