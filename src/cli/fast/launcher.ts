/**
 * cli/fast/launcher — the package's `custody` bin (dist/cli/custody.cjs, bundled by scripts/build-cli). It reads
 * which command a line names (cli/words, against every command's name, given at build time) and:
 * - for an offline verifier with a start-up bundle (cli/fast/table), runs dist/cli/fast/<command>.cjs, compiled
 *   from its V8 code cache when that cache is intact (cli/fast/bundle-format);
 * - for everything else, or when the bundle is missing, does not compile, or is older than dist/cli/main.js (a
 *   `tsc` rebuild without `npm run build`), imports dist/cli/main.js, the ES-module program.
 * The launcher itself loads only node:fs, node:path, node:vm, node:module, node:url and node:crypto (the cache
 * digests); it is CommonJS because only a CommonJS file reaches a node:vm script with its code cache this early.
 */
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Script } from 'node:vm';
import { commandWords } from '../words.ts';
import { openCache, wrapBundle } from './bundle-format.ts';
import type { FastEntry } from './entry.ts';
import { bundleFile, FAST_COMMANDS } from './table.ts';

type Wrapper = (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;

/** loadBundle evaluates a bundle and returns its exports, or undefined when it cannot or should not be used. */
export function loadBundle(cliDir: string, file: string): FastEntry | undefined {
  const path = join(cliDir, 'fast', file);
  let wrapped: string;
  try {
    if (statSync(path).mtimeMs < statSync(join(cliDir, 'main.js')).mtimeMs) return undefined;
    wrapped = wrapBundle(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  let cachedData: Buffer | undefined;
  try {
    cachedData = openCache(wrapped, readFileSync(path + '.cache'));
  } catch {
    // No cache (or unreadable): V8 compiles the source.
  }
  try {
    const fn = new Script(wrapped, { filename: path, ...(cachedData ? { cachedData } : {}) }).runInThisContext() as Wrapper;
    const module = { exports: {} as Partial<FastEntry> };
    fn.call(module.exports, module.exports, createRequire(path), module, path, dirname(path));
    const { run, fail } = module.exports;
    return typeof run === 'function' && typeof fail === 'function' ? { run, fail } : undefined;
  } catch {
    return undefined;
  }
}

function runMain(cliDir: string): void {
  const main = join(cliDir, 'main.js');
  import(pathToFileURL(main).href).catch((e: unknown) => {
    process.stderr.write(`custody: error: internal error: cannot load ${main}: ${e instanceof Error ? e.message : String(e)} [ERR_INTERNAL]\n`);
    process.stderr.write('custody: hint: the installation is incomplete: reinstall custody (or run `npm run build` in its checkout)\n');
    process.exitCode = 70;
  });
}

/** launch runs one command line: argv without `node` and the script, commandNames every registered command. */
export function launch(cliDir: string, argv: string[], commandNames: readonly string[]): void {
  const names = new Set(commandNames);
  const { name } = commandWords(argv, (n) => names.has(n));
  const row = FAST_COMMANDS.find((c) => c.name === name);
  const entry = row ? loadBundle(cliDir, bundleFile(row.name)) : undefined;
  if (!entry) {
    runMain(cliDir);
    return;
  }
  let settled = false;
  // The event loop emptied while the command's promise was pending: it can never answer. Say so (exit 70), as the
  // ES-module program's unsettled top-level await would (exit 13, without a code).
  process.once('beforeExit', () => {
    if (!settled) {
      settled = true;
      entry.fail(new Error(`custody ${name} ended without an answer: its work stopped with nothing left to wait for`), argv);
    }
  });
  entry.run(argv).then(
    () => {
      settled = true;
    },
    (e: unknown) => {
      settled = true;
      entry.fail(e, argv);
    },
  );
}
