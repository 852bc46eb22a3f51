/**
 * cli/stdio — the executable's output written with write(2): every byte arrives once and in order on a file, a
 * closed descriptor hands over to the stream, a full non-blocking pipe (EAGAIN) hands the rest to the stream, and
 * a file or the null device is never taken for a terminal (nor is the stream built to ask).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fdWriter, terminalOf } from '../../src/cli/stdio.ts';
import { tmpDir } from '../support/tmp.ts';

/** unbuilt stands for process.stdout/stderr where the code under test must not build the stream. */
const unbuilt = (): never => {
  throw new Error('the stream was built');
};

test('fdWriter writes every byte to a file, in order, without the stream', (t) => {
  const path = join(tmpDir(t), 'out');
  const fd = openSync(path, 'w');
  t.after(() => closeSync(fd));
  const write = fdWriter(fd, unbuilt);
  const big = 'é→'.repeat(300_000);
  write('first line\n');
  write(big);
  write('\nlast\n');
  assert.equal(readFileSync(path, 'utf8'), `first line\n${big}\nlast\n`);
});

test('fdWriter hands a failing descriptor to the stream for the rest of the run', (t) => {
  const fd = openSync(join(tmpDir(t), 'gone'), 'w');
  closeSync(fd); // EBADF from now on
  const got: string[] = [];
  const write = fdWriter(fd, () => ({ write: (c: Uint8Array | string) => got.push(typeof c === 'string' ? c : Buffer.from(c).toString('utf8')) }));
  write('one ');
  write('two');
  assert.deepEqual(got, ['one ', 'two']);
});

test('fdWriter on a full non-blocking pipe (EAGAIN) gives the stream exactly the bytes not yet written', (t) => {
  // A FIFO opened non-blocking at both ends: nobody reads while we write, so the pipe fills and write(2) fails with EAGAIN.
  const path = join(tmpDir(t), 'fifo');
  const made = spawnSync('mkfifo', [path]);
  if (made.status !== 0) return t.skip('SKIPPED: mkfifo is not available');
  const rfd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const wfd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  t.after(() => {
    closeSync(rfd);
    closeSync(wfd);
  });
  const streamed: Buffer[] = [];
  const write = fdWriter(wfd, () => ({ write: (c: Uint8Array | string) => streamed.push(Buffer.from(c)) }));
  const parts = [0, 1, 2, 3].map((i) => 'x'.repeat(1 << 20) + String(i));
  for (const p of parts) write(p);
  assert.ok(streamed.length === 4, 'the pipe filled during the first write, and the stream took the rest of it and every later write');
  const piped: Buffer[] = [];
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    let n: number;
    try {
      n = readSync(rfd, buf);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') break;
      throw e;
    }
    if (n === 0) break;
    piped.push(Buffer.from(buf.subarray(0, n)));
  }
  assert.ok(piped.length > 0, 'write(2) wrote a first part');
  assert.ok(Buffer.concat([...piped, ...streamed]).equals(Buffer.from(parts.join(''))), 'pipe + stream = every byte, once, in order');
});

test('terminalOf never takes a file or the null device for a terminal, and builds no stream to ask', (t) => {
  const file = openSync(join(tmpDir(t), 'f'), 'w');
  const devnull = openSync('/dev/null', 'w');
  t.after(() => {
    closeSync(file);
    closeSync(devnull);
  });
  assert.equal(terminalOf(file, unbuilt), undefined);
  assert.equal(terminalOf(devnull, unbuilt), undefined);
});
