import { createHash } from 'node:crypto';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let infra: TestInfra;
const apps = new Map<string, FastifyInstance>();

/** The origin inject() answers as: relative URLs in the page resolve against it. */
const ORIGIN = 'http://localhost';

beforeAll(async () => {
  infra = await createTestInfra('docs-csp');
  const env = { ...infra.env, LOG_LEVEL: 'silent' };
  apps.set('api', await buildApiApp({ config: loadApiConfig(env), now: () => Date.UTC(2025, 10, 11) }));
  apps.set('ingest', await buildIngestApp({ config: loadIngestConfig(env) }));
});

afterAll(async () => {
  for (const app of apps.values()) await app.close();
  await infra.close();
});

type Policy = Map<string, string[]>;

const policyOf = (header: unknown): Policy => {
  expect(typeof header).toBe('string');
  return new Map(
    String(header)
      .split(';')
      .map((directive) => directive.trim().split(/\s+/))
      .filter(([name]) => name)
      .map(([name, ...sources]) => [name!.toLowerCase(), sources]),
  );
};

/**
 * Whether a browser would fetch `url` for `directive` under the policy, for the source kinds a policy of ours may
 * use: 'self', a scheme (`data:`), an origin; anything else counts as refused.
 */
const allows = (policy: Policy, directive: string, url: URL): boolean => {
  const sources = policy.get(directive) ?? policy.get('default-src');
  if (sources === undefined) return true;
  return sources.some(
    (source) =>
      (source === "'self'" && url.origin === ORIGIN) || source === url.protocol || source === url.origin,
  );
};

/** Whether a browser would apply a `<style>` element with this text under the policy. */
const allowsStyleElement = (policy: Policy, text: string): boolean => {
  const sources = policy.get('style-src') ?? policy.get('default-src');
  if (sources === undefined) return true;
  const hash = `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
  // A hash or nonce in the list makes browsers ignore 'unsafe-inline'.
  const keyed = sources.some((source) => /^'(sha256|sha384|sha512|nonce)-/.test(source));
  return sources.includes(hash) || (!keyed && sources.includes("'unsafe-inline'"));
};

/** The text of the `<style>` elements a script bundle creates (React's compiled `createElement("style", …)`). */
const styleElementsOf = (script: string) =>
  [...script.matchAll(/createElement\("style",null,("(?:[^"\\]|\\.)*")\)/g)].map(
    ([, literal]) => JSON.parse(literal!) as string,
  );

const attributesOf = (tag: string) =>
  Object.fromEntries([...tag.matchAll(/([a-z-]+)="([^"]*)"/g)].map(([, name, value]) => [name, value]));

/** What the page loads itself, with the directive each falls under and the type nosniff requires of it. */
function pageResources(html: string, pageUrl: URL) {
  const scripts = [...html.matchAll(/<script\b[^>]*>/g)].map(([tag]) => attributesOf(tag).src);
  const links = [...html.matchAll(/<link\b[^>]*>/g)].map(([tag]) => attributesOf(tag));
  return [
    ...scripts.map((src) => {
      expect(src, 'an inline script').toBeDefined();
      return { directive: 'script-src', url: new URL(src!, pageUrl), type: /javascript/ };
    }),
    ...links
      .filter((link) => link.rel === 'stylesheet')
      .map((link) => ({ directive: 'style-src', url: new URL(link.href!, pageUrl), type: /^text\/css/ })),
    ...links
      .filter((link) => link.rel === 'icon')
      .map((link) => ({ directive: 'img-src', url: new URL(link.href!, pageUrl), type: /^image\// })),
  ];
}

describe.each(['api', 'ingest'])('the Swagger UI at /docs of the %s', (service) => {
  for (const path of ['/docs', '/docs/']) {
    it(`loads every script, style and image of ${path} under its own policy`, async () => {
      const app = apps.get(service)!;
      const page = await app.inject({ method: 'GET', url: path });
      expect(page.statusCode).toBe(200);
      const policy = policyOf(page.headers['content-security-policy']);
      // The page itself has no inline script, style or event handler: the policy admits none.
      expect(page.body).not.toMatch(/<style\b|\sstyle="|\son[a-z]+="/i);

      const pageUrl = new URL(path, ORIGIN);
      const resources = pageResources(page.body, pageUrl);
      expect(resources.map((r) => r.directive)).toEqual(
        expect.arrayContaining(['script-src', 'style-src', 'img-src']),
      );
      const images: URL[] = [];
      let initializer = '';
      for (const { directive, url, type } of resources) {
        expect(allows(policy, directive, url), `${directive} refuses ${url}`).toBe(true);
        const asset = await app.inject({ method: 'GET', url: url.pathname });
        expect(asset.statusCode, url.pathname).toBe(200);
        expect(String(asset.headers['content-type']), url.pathname).toMatch(type);
        expect(asset.headers['x-content-type-options']).toBe('nosniff');
        if (directive === 'style-src') {
          for (const [, ref] of asset.body.matchAll(/url\(\s*["']?([^"')\s]+)/g))
            images.push(new URL(ref!, url));
        }
        if (directive === 'script-src') {
          for (const style of styleElementsOf(asset.body)) {
            expect(allowsStyleElement(policy, style), `style-src refuses <style>${style}`).toBe(true);
          }
        }
        if (url.pathname.endsWith('/swagger-initializer.js')) initializer = asset.body;
      }
      // The initializer draws the logo from a data: URL and fetches the document next to the page.
      const logo = /img\.src = '([^']+)'/.exec(initializer)?.[1];
      expect(logo).toBeDefined();
      images.push(new URL(logo!));
      expect(images.length).toBeGreaterThan(1);
      for (const image of images) {
        expect(allows(policy, 'img-src', image), `img-src refuses ${image.href.slice(0, 40)}`).toBe(true);
      }
      expect(initializer).toContain("resolveUrl('./json')");
      const document = new URL('./json', new URL('/docs/', ORIGIN));
      expect(allows(policy, 'connect-src', document)).toBe(true);
      expect((await app.inject({ method: 'GET', url: document.pathname })).statusCode).toBe(200);
    });
  }

  it('may not be framed, nor take a <base> or a form target, and sends no referrer', async () => {
    const app = apps.get(service)!;
    for (const url of ['/docs', '/docs/', '/docs/static/swagger-ui-bundle.js', '/docs/json']) {
      const answer = await app.inject({ method: 'GET', url });
      const policy = policyOf(answer.headers['content-security-policy']);
      expect(policy.get('frame-ancestors'), url).toEqual(["'none'"]);
      expect(policy.get('base-uri'), url).toEqual(["'none'"]);
      expect(policy.get('form-action'), url).toEqual(["'none'"]);
      expect(answer.headers, url).toMatchObject({
        'x-frame-options': 'DENY',
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      });
    }
  });
});
