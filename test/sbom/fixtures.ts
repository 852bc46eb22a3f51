/**
 * test/sbom/fixtures — inputs the SBOM tests share: a small tree (nested, hidden, empty and multi-MiB files, a
 * symlink), a lockfile of each version with every shape the generators handle, and the digests coreutils computes.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** b64 of `n` bytes of `fill`: an SRI digest body of the right length. */
export function sri(alg: 'sha1' | 'sha512', fill: number): string {
  return `${alg}-${Buffer.alloc(alg === 'sha1' ? 20 : 64, fill).toString('base64')}`;
}

/** LOCK_V3 is a lockfileVersion 3 document with scoped, nested, dev, optional, linked and legacy-license entries. */
export const LOCK_V3 = {
  name: 'demo-app',
  version: '1.2.3',
  lockfileVersion: 3,
  requires: true,
  packages: {
    '': {
      name: 'demo-app',
      version: '1.2.3',
      license: 'MIT',
      dependencies: { '@scope/lib': '^1.0.0', 'left-pad': '^1.3.0', 'ws-pkg': '*' },
      devDependencies: { tester: '^2.0.0' },
      optionalDependencies: { fsevents: '^2.3.0' },
    },
    'node_modules/@scope/lib': {
      version: '1.0.0',
      resolved: 'https://registry.npmjs.org/@scope/lib/-/lib-1.0.0.tgz',
      integrity: sri('sha512', 0xab),
      license: 'Apache-2.0',
      dependencies: { 'left-pad': '^1.0.0' },
    },
    'node_modules/@scope/lib/node_modules/left-pad': {
      version: '1.0.0',
      resolved: 'https://registry.npmjs.org/left-pad/-/left-pad-1.0.0.tgz',
      integrity: sri('sha1', 0x11),
      license: { type: 'WTFPL', url: 'http://www.wtfpl.net/' },
    },
    'node_modules/left-pad': {
      version: '1.3.0',
      resolved: 'https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz',
      integrity: `${sri('sha512', 0xcd)} ${sri('sha1', 0x22)}`,
      license: 'MIT OR Apache-2.0',
    },
    'node_modules/tester': { version: '2.0.0', resolved: 'file:../tester', dev: true, license: 'UNLICENSED' },
    'node_modules/fsevents': { version: '2.3.3', optional: true, licenses: [{ type: 'MIT' }, { type: 'BSD-2-Clause' }] },
    'node_modules/ws-pkg': { resolved: 'packages/ws', link: true },
    'packages/ws': { name: 'ws-pkg', version: '0.0.1' },
  },
};

/** LOCK_V1 is the same project as lockfileVersion 1 writes it (nested `dependencies`, `requires`). */
export const LOCK_V1 = {
  name: 'demo-app',
  version: '1.2.3',
  lockfileVersion: 1,
  requires: true,
  dependencies: {
    '@scope/lib': {
      version: '1.0.0',
      resolved: 'https://registry.npmjs.org/@scope/lib/-/lib-1.0.0.tgz',
      integrity: sri('sha512', 0xab),
      requires: { 'left-pad': '^1.0.0' },
      dependencies: { 'left-pad': { version: '1.0.0', integrity: sri('sha1', 0x11) } },
    },
    'left-pad': { version: '1.3.0', integrity: sri('sha512', 0xcd) },
    tester: { version: '2.0.0', dev: true },
  },
};

/**
 * makeTree fills `dir` with the tree the directory tests use and returns the regular files' relative names:
 * nested directories, a hidden file, an empty file, a 3 MiB file (several reads), a symlink (left out).
 */
export function makeTree(dir: string): string[] {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'share', 'doc', 'deep'), { recursive: true });
  writeFileSync(join(dir, 'bin', 'tool'), '#!/bin/sh\necho hi\n');
  writeFileSync(join(dir, '.hidden'), 'hidden\n');
  writeFileSync(join(dir, 'empty'), '');
  writeFileSync(join(dir, 'share', 'doc', 'README'), 'read me\n');
  writeFileSync(join(dir, 'share', 'doc', 'deep', 'name with space.txt'), 'spaces\n');
  const big = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 11)) & 0xff;
  writeFileSync(join(dir, 'big.bin'), big);
  symlinkSync('bin/tool', join(dir, 'link-to-tool'));
  return ['.hidden', 'big.bin', 'bin/tool', 'empty', 'share/doc/README', 'share/doc/deep/name with space.txt'];
}

/** coreutils returns `name → hex` from the real `sha1sum`/`sha256sum` binaries run in `dir`. */
export function coreutils(tool: 'sha1sum' | 'sha256sum', dir: string, names: string[]): Map<string, string> {
  const out = execFileSync(tool, ['--', ...names], { cwd: dir, encoding: 'utf8' });
  const m = new Map<string, string>();
  for (const line of out.trimEnd().split('\n')) {
    const match = /^([0-9a-f]+) [ *](.*)$/.exec(line);
    if (!match) throw new Error(`unexpected ${tool} line: ${line}`);
    m.set(match[2]!, match[1]!);
  }
  return m;
}
