/**
 * io/pid-lock: a lock file holding its owner's pid, taken over only from a process that is gone.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, promises as fsp, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { IoError } from '../../src/errors.ts';
import { acquirePidLock, pidLockOwner, type PidLockRefusal } from '../../src/io/pid-lock.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { tmpDir } from '../support/tmp.ts';

const refusals: PidLockRefusal[] = [];
const refused = (r: PidLockRefusal): IoError => {
  refusals.push(r);
  return new IoError('ERR_SECRETS_LOCKED', `locked (${r.reason})`);
};

async function deadPid(): Promise<number> {
  const p = spawn('true', [], { stdio: 'ignore' });
  await new Promise((res) => p.once('exit', res));
  return p.pid!;
}

test('a new lock holds the pid, is 0600, leaves no temporary file, and is removed on release', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'x.lock');
  const release = await acquirePidLock(path, { refused });
  assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), ['x.lock']);
  assert.deepEqual(await pidLockOwner(path), { pid: process.pid, alive: true });
  await release();
  assert.ok(!existsSync(path));
  assert.equal(await pidLockOwner(path), undefined);
});

test('a lock of a live process is refused and left as it is, even when that process is this one', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'x.lock');
  const live = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.after(() => live.kill('SIGKILL'));
  writeFileSync(path, `${live.pid}\n`);
  refusals.length = 0;
  await assertRejectsCode(acquirePidLock(path, { refused }), 'ERR_SECRETS_LOCKED');
  assert.deepEqual(refusals, [{ reason: 'held', pid: live.pid }]);
  assert.equal(readFileSync(path, 'utf8'), `${live.pid}\n`);
  const release = await acquirePidLock(join(dir, 'y.lock'), { refused });
  await assertRejectsCode(acquirePidLock(join(dir, 'y.lock'), { refused }), 'ERR_SECRETS_LOCKED');
  await release();
});

test('a lock of a dead process, or holding no pid, is taken over', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'x.lock');
  for (const stale of [`${await deadPid()}\n`, '', 'not a pid\n', '0\n']) {
    writeFileSync(path, stale);
    const release = await acquirePidLock(path, { refused });
    assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`, JSON.stringify(stale));
    await release();
    assert.deepEqual(readdirSync(dir), []);
  }
});

test('taking over a stale lock never steals the lock of a process that took it over first', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'x.lock');
  const live = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.after(() => live.kill('SIGKILL'));
  writeFileSync(path, `${await deadPid()}\n`);
  refusals.length = 0;
  await assertRejectsCode(acquirePidLock(path, { refused, beforeBreak: () => Promise.resolve(writeFileSync(path, `${live.pid}\n`)) }), 'ERR_SECRETS_LOCKED');
  assert.deepEqual(refusals, [{ reason: 'held', pid: live.pid }]);
  assert.equal(readFileSync(path, 'utf8'), `${live.pid}\n`);
  assert.deepEqual(readdirSync(dir), ['x.lock']);
});

test('a stale lock swapped for another between the check and the takeover is put back, and the lock refused', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'x.lock');
  const first = await deadPid();
  const second = await deadPid();
  writeFileSync(path, `${first}\n`);
  refusals.length = 0;
  await assertRejectsCode(acquirePidLock(path, { refused, beforeBreak: () => Promise.resolve(writeFileSync(path, `${second}\n`)) }), 'ERR_SECRETS_LOCKED');
  assert.equal(refusals.length, 1);
  assert.equal(readFileSync(path, 'utf8'), `${second}\n`);
  assert.deepEqual(readdirSync(dir), ['x.lock']);
  // The next attempt judges the lock it sees, and takes it over.
  const release = await acquirePidLock(path, { refused });
  await release();
});

test('a lock is never seen empty: a reader racing 300 takes and releases finds the pid or no file, nothing else', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'x.lock');
  let stop = false;
  const seen = { pid: 0, none: 0, other: [] as string[] };
  // The reader runs on the thread pool beside the lock's own file operations, as another process's reads would.
  const reader = (async () => {
    while (!stop) {
      const text = await fsp.readFile(path, 'latin1').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
      if (text === undefined) seen.none++;
      else if (text === `${process.pid}\n`) seen.pid++;
      else seen.other.push(JSON.stringify(text));
    }
  })();
  for (let i = 0; i < 300; i++) await (await acquirePidLock(path, { refused }))();
  stop = true;
  await reader;
  assert.deepEqual(seen.other, []);
  // The race was run: the reader saw the lock both there and gone.
  assert.ok(seen.pid > 0 && seen.none > 0, JSON.stringify(seen));
});
