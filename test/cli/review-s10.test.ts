/**
 * Fixes of the CLI review of session 10 (briefs/s10/fix-cli.md), each against real files, in-process CLI runs, real
 * child processes or loopback servers: every refusal asserted by its exact code and exit code, and what a refused
 * command must not have created.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli } from '../support/cli.ts';
import { listTree, tmpDir } from '../support/tmp.ts';

test('keygen --output x.pub is refused before anything is written (the .pub would replace the private key)', async (t) => {
  const dir = tmpDir(t);
  const r = await cli(['keygen', '--output', 'k/x.pub'], { cwd: dir });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /\[ERR_USAGE_ARGUMENT\]/);
  assert.match(r.stderr, /is FILE itself/);
  assert.deepEqual(listTree(dir), []);
  // Any other extension still works, and the .pub lands beside it.
  const ok = await cli(['keygen', '--output', 'k/x.key'], { cwd: dir });
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(listTree(dir), ['k', 'k/x.key', 'k/x.pub']);
  assert.match(readFileSync(join(dir, 'k/x.key'), 'utf8'), /PRIVATE KEY/);
});
