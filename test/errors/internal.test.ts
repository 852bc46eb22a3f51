/**
 * ERR_INTERNAL: an uncoded error (a bug) that reaches the CLI is reported with the code, the table's hint and exit
 * 70, in text and in --json. No command throws one on purpose, so the test makes the output stream fail with a plain
 * Error (as a broken pipe would) while a command prints.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERROR_CODES } from '../../src/errors.ts';
import { EXIT_INTERNAL, runCli } from '../../src/cli/run.ts';
import { tmpDir } from '../support/tmp.ts';

async function runWithFailingStdout(argv: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  let writes = 0;
  const code = await runCli(argv, {
    stdout: (s) => {
      if (writes++ === 0) throw new Error('stdout is gone');
      stdout += s;
    },
    stderr: (s) => (stderr += s),
    env: {},
    cwd,
    now: () => new Date(),
  });
  return { code, stdout, stderr };
}

test('an uncoded error is reported as ERR_INTERNAL with exit 70 and the hint of the table', async (t) => {
  const dir = tmpDir(t);
  const r = await runWithFailingStdout(['keygen', '--output', 'k.pem'], dir);
  assert.equal(r.code, 70);
  assert.equal(EXIT_INTERNAL, 70);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `custody: error: internal error: stdout is gone [ERR_INTERNAL]\ncustody: hint: ${ERROR_CODES.ERR_INTERNAL[2]}\n`);

  const j = await runWithFailingStdout(['keygen', '--output', 'k2.pem', '--json'], dir);
  assert.equal(j.code, 70);
  assert.deepEqual(JSON.parse(j.stdout), { ok: false, code: 'ERR_INTERNAL', message: 'stdout is gone', hint: ERROR_CODES.ERR_INTERNAL[2] });
});
