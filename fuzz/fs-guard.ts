/**
 * fuzz/fs-guard — the "write outside a temp dir" oracle. In a fuzz worker, every file-system call that creates,
 * changes or removes something (node:fs sync, callback and promise forms, and write streams) is wrapped: a path
 * outside the worker's own temp dir is recorded as a violation and the call throws a {@link WriteViolation} (so
 * nothing is written). ESM named imports of node builtins see the wrapped functions through
 * `syncBuiltinESMExports()`. Native code (better-sqlite3) is not covered: targets keep databases under the temp dir.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { resolve, sep } from 'node:path';

/** WriteViolation is thrown by a guarded call that would write outside the temp dir: always a finding. */
export class WriteViolation extends Error {
  override get name(): string {
    return 'WriteViolation';
  }
}

// Functions whose first argument (and for rename/link/symlink/copy also the second) is a path being written.
const PATH_WRITERS = ['writeFile', 'appendFile', 'mkdir', 'mkdtemp', 'rm', 'rmdir', 'unlink', 'truncate', 'chmod', 'chown', 'utimes', 'lchown', 'lutimes'];
const TWO_PATH_WRITERS = ['rename', 'link', 'symlink', 'copyFile', 'cp'];
const WRITE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_APPEND;

function isWriteFlag(flags: unknown): boolean {
  if (typeof flags === 'number') return (flags & WRITE_FLAGS) !== 0;
  return typeof flags === 'string' && /[wa+]/.test(flags);
}

function toPath(p: unknown): string | undefined {
  if (typeof p === 'string') return p;
  if (p instanceof URL) return p.pathname;
  if (p instanceof Uint8Array) return Buffer.from(p).toString();
  return undefined;
}

/** installFsGuard wraps node:fs so that only paths under `allowedRoot` may be written; returns the violations seen. */
export function installFsGuard(allowedRoot: string): { violations: string[] } {
  const root = resolve(allowedRoot) + sep;
  const violations: string[] = [];
  const check = (op: string, p: unknown): void => {
    const s = toPath(p);
    if (s === undefined) return; // a file descriptor: its open was checked
    const abs = resolve(s);
    if (abs + sep === root || abs.startsWith(root)) return;
    const v = `${op} ${abs}`;
    violations.push(v);
    throw new WriteViolation(`write outside the temp dir: ${v}`);
  };
  const wrap = (obj: Record<string, unknown>, name: string, argChecks: (args: unknown[]) => void): void => {
    const orig = obj[name];
    if (typeof orig !== 'function') return;
    const f = orig as (...a: unknown[]) => unknown;
    obj[name] = function guarded(this: unknown, ...args: unknown[]): unknown {
      argChecks(args);
      return f.apply(this, args);
    };
  };
  const targets = [fs as unknown as Record<string, unknown>, fs.promises as unknown as Record<string, unknown>];
  for (const obj of targets) {
    for (const base of PATH_WRITERS) for (const name of [base, `${base}Sync`]) wrap(obj, name, (a) => check(name, a[0]));
    for (const base of TWO_PATH_WRITERS) {
      for (const name of [base, `${base}Sync`]) {
        wrap(obj, name, (a) => {
          check(name, a[1]);
          if (base !== 'symlink' && base !== 'copyFile' && base !== 'cp') check(name, a[0]);
        });
      }
    }
    for (const name of ['open', 'openSync']) wrap(obj, name, (a) => isWriteFlag(a[1]) && check(name, a[0]));
  }
  wrap(fs, 'createWriteStream', (a) => check('createWriteStream', a[0]));
  syncBuiltinESMExports();
  return { violations };
}
