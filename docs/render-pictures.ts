// Renders the hand-written SVG pictures under docs/ to PNG for the README, in
// the installed Chromium driven by playwright-core (`pnpm docs:pictures`).
// Each PNG carries the SHA-256 of the SVG it was drawn from (a tEXt chunk),
// so tests/pictures.test.ts can tell a stale PNG from a current one.
//
//   pnpm docs:pictures                      # every docs/*.svg
//   pnpm docs:pictures -- --chromium /path/to/chromium
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { chromium } from 'playwright-core';

export const DOCS_DIR = __dirname;
export const SOURCE_HASH_KEY = 'herald:source-sha256';
/** Rendered at twice the SVG's size, for sharp pictures on dense screens. */
export const SCALE = 2;

export const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/** The SVG's width and height attributes, in CSS pixels. */
export function svgSize(svg: string): { width: number; height: number } {
  const root = /<svg\b[^>]*>/.exec(svg)?.[0] ?? '';
  const width = Number(/\bwidth="(\d+)"/.exec(root)?.[1]);
  const height = Number(/\bheight="(\d+)"/.exec(root)?.[1]);
  if (!width || !height) throw new Error('the <svg> element needs numeric width and height');
  return { width, height };
}

/** PNG chunks: [type, data] in file order. */
function pngChunks(png: Buffer): { type: string; data: Buffer; start: number; end: number }[] {
  if (png.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') throw new Error('not a PNG');
  const chunks = [];
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    chunks.push({
      type,
      data: png.subarray(at + 8, at + 8 + length),
      start: at,
      end: at + 12 + length,
    });
    at += 12 + length;
  }
  return chunks;
}

/** The PNG's tEXt entries. */
export function pngText(png: Buffer): Record<string, string> {
  const text: Record<string, string> = {};
  for (const { type, data } of pngChunks(png)) {
    if (type !== 'tEXt') continue;
    const nul = data.indexOf(0);
    text[data.toString('latin1', 0, nul)] = data.toString('latin1', nul + 1);
  }
  return text;
}

/** The PNG's width and height (IHDR). */
export function pngSize(png: Buffer): { width: number; height: number } {
  const ihdr = pngChunks(png).find((c) => c.type === 'IHDR')!;
  return { width: ihdr.data.readUInt32BE(0), height: ihdr.data.readUInt32BE(4) };
}

/** The PNG with a tEXt chunk added right after IHDR. */
function withText(png: Buffer, key: string, value: string): Buffer {
  const data = Buffer.from(`${key}\0${value}`, 'latin1');
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write('tEXt', 4, 'latin1');
  data.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
  const ihdrEnd = pngChunks(png).find((c) => c.type === 'IHDR')!.end;
  return Buffer.concat([png.subarray(0, ihdrEnd), chunk, png.subarray(ihdrEnd)]);
}

/** Renders every docs/*.svg to docs/<name>.png; returns the files written. */
export async function renderPictures(executablePath = '/usr/bin/chromium'): Promise<string[]> {
  const browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  const written: string[] = [];
  try {
    for (const name of readdirSync(DOCS_DIR).filter((f) => f.endsWith('.svg'))) {
      const svg = readFileSync(path.join(DOCS_DIR, name), 'utf8');
      const { width, height } = svgSize(svg);
      const page = await browser.newPage({ viewport: { width, height }, deviceScaleFactor: SCALE });
      try {
        await page.setContent(`<!doctype html><body style="margin:0">${svg}</body>`);
        const png = await page.screenshot({ clip: { x: 0, y: 0, width, height } });
        const file = path.join(DOCS_DIR, name.replace(/\.svg$/, '.png'));
        writeFileSync(file, withText(png, SOURCE_HASH_KEY, sha256(svg)));
        written.push(file);
      } finally {
        await page.close();
      }
    }
  } finally {
    await browser.close();
  }
  return written;
}

if (require.main === module) {
  const at = process.argv.indexOf('--chromium');
  renderPictures(at > 0 ? process.argv[at + 1] : undefined).then(
    (files) => {
      for (const file of files) console.log(`wrote ${path.relative(process.cwd(), file)}`);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
