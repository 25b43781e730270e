/** `text` with the characters a SCAN MATCH pattern treats as glob syntax escaped, so it matches only itself. */
export const globEscaped = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&');
