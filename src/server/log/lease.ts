/**
 * server/log/lease — who this process is for the log's write lease, and how it decides that another holder died.
 *
 * The lease (tlog/storage `acquireLease`) keeps a second `custody log serve` on the same data directory from
 * writing. A holder that was killed (kill -9, power loss) leaves its lease behind; waiting for it to expire would
 * delay every restart by the lease TTL, so a holder on THIS host whose pid no longer exists is treated as dead at
 * once. Holders on other hosts (shared storage) are only ever taken over after expiry. Correctness does not depend
 * on this guess: the compare-and-swaps in storage fence a stale writer even if two processes both think they hold
 * the lease.
 */
import { hostname } from 'node:os';
import { randomBytes } from '../../crypto/index.ts';
import { encodeHex } from '../../encoding/bytes.ts';
import type { LeaseHolder } from '../../log/storage.ts';

/** leaseIdentity returns this process's lease identity with a fresh random owner token (128 bits). */
export function leaseIdentity(): Omit<LeaseHolder, 'expiresAt'> {
  return { owner: encodeHex(randomBytes(16)), pid: process.pid, host: hostname() };
}

/** isHolderDead reports whether a lease holder is a process of this host that no longer runs. */
export function isHolderDead(other: LeaseHolder): boolean {
  if (other.host !== hostname() || !Number.isSafeInteger(other.pid) || other.pid <= 0) return false;
  if (other.pid === process.pid) return false; // our own pid from an earlier run in this process: not dead
  try {
    process.kill(other.pid, 0);
    return false; // the pid exists (it may be reused, then the lease expires normally)
  } catch (e) {
    return (e as { code?: string }).code === 'ESRCH';
  }
}
