import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * What the documentation points a reader to exists: every relative markdown link (and its #anchor) of the README,
 * docs/ and the packages' READMEs, and every repository path named in their prose, in docker-compose.yml and in
 * docker/. A file renamed or an anchor retitled otherwise leaves a dead pointer that nothing else notices.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const filesIn = (dir: string, keep: (name: string) => boolean) =>
  readdirSync(join(root, dir))
    .filter(keep)
    .map((name) => `${dir}/${name}`);

const markdown = [
  'README.md',
  ...filesIn('docs', (name) => name.endsWith('.md')),
  ...readdirSync(join(root, 'packages'))
    .map((name) => `packages/${name}/README.md`)
    .filter((path) => existsSync(join(root, path))),
];
const deployment = ['docker-compose.yml', ...filesIn('docker', () => true)];

/** Markdown without its fenced blocks: their `#` lines are shell comments, not headings. */
const prose = (text: string) => text.replace(/^\s*```[\s\S]*?^\s*```/gm, '');

/** GitHub's anchors of a markdown file's headings: lower case, punctuation dropped, spaces as `-`, repeats numbered. */
function anchorsOf(path: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of prose(read(path)).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = heading!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** Each relative link's target as a path from the repository root, with its anchor. */
function linksOf(path: string): { link: string; target: string; anchor: string }[] {
  return [...prose(read(path)).matchAll(/\]\(([^)\s]+)\)/g)]
    .map((match) => match[1]!)
    .filter((link) => !/^[a-z]+:/.test(link))
    .map((link) => {
      const [file = '', anchor = ''] = link.split('#');
      const target = file === '' ? path : relative(root, normalize(join(root, dirname(path), file)));
      return { link, target, anchor };
    });
}

/**
 * Repository paths named in text: `docs/…`, `tests/…` and the like, not part of a URL or of a longer path
 * (`localhost:3000/docs/json`), and not patterns (`src/lua/*.lua`, `<name>`, `{line}`).
 */
function pathsNamedIn(path: string): string[] {
  const named = read(path).matchAll(
    /(?<![\w./:-])(?:docs|tests|packages|services|scripts|docker|migrations|\.ci)\/[\w./*<>{}-]+/g,
  );
  return [...new Set([...named].map(([text]) => text.replace(/[.:]+$/, '')))].filter(
    (text) => !/[*<>{}]/.test(text),
  );
}

describe('pointers in the documentation', () => {
  it('finds the documents and their links', () => {
    expect(markdown).toEqual(expect.arrayContaining(['README.md', 'docs/operations.md']));
    expect(linksOf('README.md').length).toBeGreaterThanOrEqual(5);
    expect(pathsNamedIn('docker-compose.yml')).toContain('docker/haproxy.cfg');
  });

  it.each(markdown)('%s: every relative link reaches a file, and its anchor a heading', (path) => {
    const dead = linksOf(path).filter(
      ({ target, anchor }) =>
        !existsSync(join(root, target)) ||
        (anchor !== '' && target.endsWith('.md') && !anchorsOf(target).has(anchor)),
    );
    expect(dead.map(({ link }) => link)).toEqual([]);
  });

  it.each([...markdown, ...deployment])('%s: every repository path it names exists', (path) => {
    expect(pathsNamedIn(path).filter((named) => !existsSync(join(root, named)))).toEqual([]);
  });
});
