/**
 * `custody verify FILE` chooses the package verifier by name and options, not only by content (issue 8 item 4):
 * a truncated package (its end magic gone) named `*.psp`, or given a package-only option, is refused with exit 1
 * and an ERR_PKG_… code — never handed to the manifest verifier — and `custody verify-package` is the explicit form.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PSPF_TRAILER_BYTES } from '../../src/pkg/index.ts';
import { cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';
import { assemble, SEED_PUBLIC_HEX } from './helpers.ts';

const enc = new TextEncoder();

test('truncated packages are refused with exit 1 and an ERR_PKG_ code by verify and verify-package', async (t) => {
  const dir = tmpDir(t);
  const whole = assemble({ slots: [{ id: 'hello', stored: enc.encode('hello\n') }] });
  // Cut inside the trailer (end magic gone), inside a slot, and to less than a trailer.
  const cuts: Array<[string, Uint8Array, string]> = [
    ['end magic cut off', whole.subarray(0, whole.length - 1), 'ERR_PKG_MAGIC'],
    ['trailer half gone', whole.subarray(0, whole.length - PSPF_TRAILER_BYTES / 2), 'ERR_PKG_MAGIC'],
    ['shorter than a trailer', whole.subarray(0, 100), 'ERR_PKG_TRUNCATED'],
  ];
  for (const [what, bytes, code] of cuts) {
    writeFileSync(join(dir, 'app.psp'), bytes);
    writeFileSync(join(dir, 'app.bin'), bytes);
    const runs: string[][] = [
      ['verify', 'app.psp'],
      ['verify', 'app.psp', '--deep'],
      ['verify', 'app.psp', '--allow-any-signer'],
      ['verify-package', 'app.psp', '--allow-any-signer'],
      ['verify-package', 'app.bin'],
      // Not named *.psp: the package options say it is a package.
      ['verify', 'app.bin', '--deep'],
      ['verify', 'app.bin', '--quick'],
      ['verify', 'app.bin', '--paranoid'],
      ['verify', 'app.bin', `--trusted-key=${SEED_PUBLIC_HEX}`],
      ['verify', '--trusted-key', SEED_PUBLIC_HEX, 'app.bin'],
      ['verify', 'app.bin', '--allow-any-signer'],
    ];
    for (const argv of runs) {
      const r = await cli(argv, { cwd: dir });
      assert.equal(r.code, 1, `${what}: ${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^custody: error: .*\\[${code}\\]$`, 'm'), `${what}: ${argv.join(' ')}`);
    }
  }
  // An intact package still verifies through both forms.
  writeFileSync(join(dir, 'ok.psp'), whole);
  for (const cmd of ['verify', 'verify-package']) {
    const r = await cli([cmd, 'ok.psp', '--trusted-key', SEED_PUBLIC_HEX], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok\.psp: authentic/m);
  }
  // Without package signs, a non-package file still goes to the manifest verifier (its usage error, exit 2).
  const m = await cli(['verify', 'app.bin'], { cwd: dir });
  assert.equal(m.code, 2, m.stderr);
  assert.match(m.stderr, /expected a manifest and at least one artifact \[ERR_USAGE_ARGUMENT\]/);
  const h = await cli(['verify-package', '--help'], { cwd: dir });
  assert.equal(h.code, 0);
  assert.match(h.stdout, /^usage: custody verify-package PACKAGE/);
});
