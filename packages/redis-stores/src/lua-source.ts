import { readFileSync } from 'node:fs';

/** A line `--- @include "<name>"` of a script stands for lua/includes/<name>.lua (BullMQ's convention). */
const INCLUDE = /^--- @include "([\w-]+)"$/gm;

/** The text of lua/<name>.lua as Redis runs it: its includes inlined. */
export const luaSource = (name: string): string =>
  readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8').replace(
    INCLUDE,
    (_, included: string) => luaSource(`includes/${included}`),
  );
