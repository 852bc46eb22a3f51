/**
 * server/ui/assets — the dashboard's static files (docs/dashboard.md): `ui/` at the repository root is browser code,
 * bundled by esbuild into `dist/ui/` (index.html, app.js, app.css) at `npm run build`. A daemon run from source
 * (`npm start`, tsx) bundles it in memory at start when `dist/ui/` is missing or older than the source, so
 * `npm install && npm start` serves the dashboard too. Everything is served from memory with its SHA-256 ETag.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from '../../crypto/hash.ts';

/** UI_SOURCE_DIR is the dashboard's source (ui/ at the repository root). */
export const UI_SOURCE_DIR = fileURLToPath(new URL('../../../ui', import.meta.url));
/** UI_DIST_DIR is where `npm run build` writes the bundle. */
export const UI_DIST_DIR = fileURLToPath(new URL('../../../dist/ui', import.meta.url));

/** UiAsset is one file served under /ui/. */
export interface UiAsset {
  body: Buffer;
  type: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/** UI_FILES are the files of the dashboard, by name. */
export const UI_FILES: readonly string[] = Object.keys(TYPES);

function asset(name: string, body: Buffer): UiAsset {
  return { body, type: TYPES[name] ?? 'application/octet-stream', etag: `"${Buffer.from(sha256(body)).toString('base64url').slice(0, 22)}"` };
}

/**
 * bundleUi builds the dashboard with esbuild (a dev dependency) into a map of name → bytes; with `outDir`, also
 * writes the files there. Used by scripts/build-ui.ts and by loadUiAssets when running from source.
 */
export async function bundleUi(outDir?: string): Promise<Map<string, Buffer>> {
  const esbuild = await import('esbuild');
  const r = await esbuild.build({
    entryPoints: [join(UI_SOURCE_DIR, 'src', 'main.ts')],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const js = r.outputFiles[0];
  if (js === undefined) throw new Error('esbuild produced no output');
  const files = new Map<string, Buffer>([['app.js', Buffer.from(js.contents)]]);
  for (const name of ['index.html', 'app.css', 'favicon.svg']) files.set(name, await fsp.readFile(join(UI_SOURCE_DIR, name)));
  if (outDir !== undefined) {
    await fsp.mkdir(outDir, { recursive: true });
    for (const [name, body] of files) await fsp.writeFile(join(outDir, name), body);
  }
  return files;
}

async function newestMtime(dir: string): Promise<number> {
  let t = 0;
  for (const e of await fsp.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, (await fsp.stat(join(e.parentPath, e.name))).mtimeMs);
  }
  return t;
}

/**
 * loadUiAssets returns the dashboard's files: dist/ui/ when it is complete and not older than ui/ (or ui/ is not
 * there: an installed package), else a fresh in-memory bundle. Undefined when neither is possible (no build and no
 * esbuild): the daemon then answers /ui/ with a coded 404 and says so in its log.
 */
export async function loadUiAssets(): Promise<{ assets: Map<string, UiAsset>; from: 'dist' | 'source' } | { error: string }> {
  const srcTime = await newestMtime(UI_SOURCE_DIR).catch(() => undefined);
  try {
    const files = new Map<string, UiAsset>();
    let distTime = Infinity;
    for (const name of UI_FILES) {
      const p = join(UI_DIST_DIR, name);
      distTime = Math.min(distTime, (await fsp.stat(p)).mtimeMs);
      files.set(name, asset(name, await fsp.readFile(p)));
    }
    if (srcTime === undefined || distTime >= srcTime) return { assets: files, from: 'dist' };
  } catch {
    // no (complete) build: bundle from source below
  }
  if (srcTime === undefined) return { error: 'no dashboard build (dist/ui) and no source (ui/)' };
  try {
    const files = await bundleUi();
    return { assets: new Map([...files].map(([n, b]) => [n, asset(n, b)])), from: 'source' };
  } catch (e) {
    return { error: `the dashboard could not be bundled from ui/: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` };
  }
}
