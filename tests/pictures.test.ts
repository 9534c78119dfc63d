// The README's architecture picture: an SVG under docs/ that draws every
// service and queue the code has, rendered to the PNG the README shows by
// `pnpm docs:pictures` (docs/render-pictures.ts). The PNG carries the hash of
// the SVG it was drawn from, so an edited SVG with a stale PNG fails here.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { allLaneQueues, CHANNELS, deadLetterQueueName } from '@herald/core';
import { pngSize, pngText, SCALE, sha256, SOURCE_HASH_KEY, svgSize } from '../docs/render-pictures';

const ROOT = path.resolve(__dirname, '..');
const SVG = path.join(ROOT, 'docs', 'architecture.svg');
const PNG = path.join(ROOT, 'docs', 'architecture.png');
const svg = readFileSync(SVG, 'utf8');

/** Every directory under services/ with a src/main.ts. */
const SERVICES = readdirSync(path.join(ROOT, 'services'), { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(path.join(ROOT, 'services', e.name, 'src/main.ts')))
  .map((e) => e.name);

/** The words drawn: text elements' content, entities decoded. */
const drawn = [...svg.matchAll(/<text\b[^>]*>([^<]*)<\/text>/g)].map((m) =>
  m[1]!.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'),
);

describe('docs/architecture.svg', () => {
  it('is an SVG with a size to render at', () => {
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svgSize(svg)).toEqual({ width: 1280, height: 780 });
  });

  it.each(SERVICES)('draws the %s service', (service) => {
    expect(drawn).toContain(service);
  });

  it('draws every lane queue and dead-letter queue by its real name', () => {
    const queues = [...allLaneQueues().map((l) => l.name), ...CHANNELS.map(deadLetterQueueName)];
    expect(queues.filter((q) => !drawn.includes(q))).toEqual([]);
  });

  it('draws the stores and the monitoring', () => {
    for (const part of ['Postgres', 'Redis · BullMQ', 'Prometheus', 'Grafana'])
      expect(drawn).toContain(part);
  });
});

describe('docs/architecture.png', () => {
  const png = readFileSync(PNG);

  it('was rendered from the current SVG (run `pnpm docs:pictures` after editing it)', () => {
    expect(pngText(png)[SOURCE_HASH_KEY]).toBe(sha256(svg));
  });

  it('is the SVG at twice its size', () => {
    const { width, height } = svgSize(svg);
    expect(pngSize(png)).toEqual({ width: width * SCALE, height: height * SCALE });
  });

  it('is shown at the top of the README, before the quick start', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const shown = readme.search(/!\[[^\]]*architecture[^\]]*\]\(docs\/architecture\.png\)/);
    expect(shown).toBeGreaterThan(0);
    expect(shown).toBeLessThan(readme.indexOf('## Quick start'));
  });

  it('has a script that renders it', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts['docs:pictures']).toBe('tsx docs/render-pictures.ts');
  });
});
