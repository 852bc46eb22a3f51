/**
 * io/pid-lock — an advisory lock file holding the owner's pid (the convention of lock files under /run and of
 * `flock`-less tools): created with O_EXCL, removed on release, and taken over when the process it names is gone.
 *
 * Taking over a stale lock races: two processes may judge the same lock stale, and the one renaming second would move
 * the winner's fresh lock aside. So the stale lock is moved aside under a unique name (rename is atomic) and read
 * again: unless what was moved is the lock that was judged, it is put back (link(2), never over a newer lock) and the
 * lock refused. A lock is taken over once per call; one that keeps reappearing is refused. A new lock is written to a
 * temporary file and linked into place, so it never exists empty.
 */
import { constants, promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { toIoError, type TrustError } from '../errors.ts';

/** PidLockRefusal says why a lock could not be taken: a live `holder`, or a lock that came back after a takeover. */
export type PidLockRefusal = { reason: 'held'; pid: number } | { reason: 'reappearing' };

export interface PidLockOptions {
  /** refused builds the caller's coded error for a lock it may not take. */
  refused: (r: PidLockRefusal) => TrustError;
  /** beforeBreak is a test hook run between the staleness check and the takeover. */
  beforeBreak?: (() => Promise<void>) | undefined;
}

/** acquirePidLock takes the lock file at `path` (0600, "<pid>\n", fsynced) and returns its release function. */
export async function acquirePidLock(path: string, o: PidLockOptions): Promise<() => Promise<void>> {
  for (let attempt = 0; ; attempt++) {
    if (await linkNewLock(path)) {
      return async () => {
        await fsp.unlink(path).catch(() => undefined);
      };
    }
    const owner = await pidLockOwner(path);
    if (owner !== undefined && owner.alive) throw o.refused({ reason: 'held', pid: owner.pid });
    if (attempt >= 1) throw o.refused({ reason: 'reappearing' });
    await o.beforeBreak?.();
    const aside = join(dirname(path), `.${basename(path)}.stale.${process.pid}.${Date.now()}.tmp`);
    if (!(await fsp.rename(path, aside).then(() => true, () => false))) continue;
    const moved = await pidLockOwner(aside);
    if (moved !== undefined && (moved.alive || moved.pid !== (owner?.pid ?? 0))) {
      await fsp.link(aside, path).catch(() => undefined);
      await fsp.unlink(aside).catch(() => undefined);
      throw o.refused({ reason: 'held', pid: moved.pid });
    }
    await fsp.unlink(aside).catch(() => undefined);
  }
}

/**
 * linkNewLock writes "<pid>\n" to a temporary file, fsyncs it and links it to `path`: the lock appears with its
 * content or not at all, so no other process ever reads an empty lock and judges it stale. False: `path` exists.
 */
async function linkNewLock(path: string): Promise<boolean> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const fh = await fsp.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      await fh.writeFile(`${process.pid}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.link(temp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw toIoError(e, path, 'write');
  } finally {
    await fsp.unlink(temp).catch(() => undefined);
  }
}

/** pidLockOwner reads the pid in a lock file and whether that process is alive (undefined: no lock file). */
export async function pidLockOwner(path: string): Promise<{ pid: number; alive: boolean } | undefined> {
  let text: string;
  try {
    const fh = await fsp.open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const buf = Buffer.alloc(64);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      text = buf.subarray(0, bytesRead).toString('latin1');
    } finally {
      await fh.close();
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { pid: 0, alive: false };
  }
  const m = /^([1-9][0-9]{0,9})\n?$/.exec(text);
  if (!m) return { pid: 0, alive: false };
  const pid = Number(m[1]);
  try {
    process.kill(pid, 0);
    return { pid, alive: true };
  } catch (e) {
    return { pid, alive: (e as NodeJS.ErrnoException).code === 'EPERM' };
  }
}
