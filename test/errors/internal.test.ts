/**
 * ERR_INTERNAL: an uncoded error (a bug) that reaches the CLI is reported with the code, the table's hint and exit
 * 70, in text and in --json. No command throws one on purpose, so the test makes the output stream fail with a plain
 * Error while a command prints. A failed system call that reaches the CLI uncoded is not a bug: a coded I/O error.
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

test('a failed system call that reaches the CLI uncoded is a coded I/O error (exit 3), not ERR_INTERNAL', async (t) => {
  const dir = tmpDir(t);
  let stderr = '';
  const io = { stdout: () => undefined, stderr: (s: string) => (stderr += s), env: {}, cwd: dir, now: () => new Date() };
  // A broken pipe on stdout is a failed write.
  const epipe = Object.assign(new Error('write EPIPE'), { errno: -32, code: 'EPIPE', syscall: 'write' });
  const code = await runCli(['keygen', '--output', 'k.pem'], { ...io, stdout: () => { throw epipe; } });
  assert.equal(code, 3, stderr);
  assert.match(stderr, /^custody: error: cannot write a file \(write\): EPIPE \[ERR_IO_WRITE_FAILED\]\n/);
  // /proc/self/mem: a regular file of size 0 whose first read fails with EIO, as a failing disk's would, in code
  // (hashing a subject) that does not convert it itself.
  if (process.platform !== 'linux') {
    t.skip('SKIPPED LOUDLY: needs Linux /proc/self/mem to make a read fail after the open');
    return;
  }
  assert.equal(await runCli(['keygen', '--output', 'a.pem'], io), 0);
  stderr = '';
  const eio = await runCli(['attest', 'provenance', '--subject', '/proc/self/mem', '--builder-id', 'https://b.example/1', '--build-type', 'https://b.example/t', '--key', 'a.pem', '--output', 'p.intoto.jsonl'], io);
  assert.equal(eio, 3, stderr);
  assert.match(stderr, /\[ERR_IO_READ_FAILED\]\ncustody: hint: /);
  assert.doesNotMatch(stderr, /ERR_INTERNAL/);
});
