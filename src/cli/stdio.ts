/**
 * cli/stdio — the `custody` executable's standard output and error, written to file descriptors 1 and 2 with
 * write(2) (fs.writeSync) rather than through process.stdout/stderr.
 *
 * Why: touching either stream makes Node build it, which loads its whole streams stack (about 20 internal modules;
 * a net socket too for a pipe) — a large share of `custody verify`'s start-up over `node -e 0` (issue 9,
 * bench/sections/cli.ts). On Linux Node writes stdout and stderr synchronously anyway (files, pipes and terminals),
 * so the bytes and their order are the same. The first failed write (EAGAIN from a non-blocking descriptor a parent
 * shares, EPIPE, EBADF, …) hands that descriptor, for the rest of the run, to Node's own stream, which then behaves
 * exactly as it always has: nothing is lost, reordered or written twice.
 */
import { fstatSync, statSync, writeSync } from 'node:fs';

/** fdWriter returns a writer of whole strings (UTF-8) to fd with write(2), switching to stream() when a write fails. */
export function fdWriter(fd: number, stream: () => { write(chunk: Uint8Array | string): unknown }): (s: string) => void {
  let viaStream = false;
  return (s) => {
    if (viaStream) {
      stream().write(s);
      return;
    }
    const bytes = Buffer.from(s, 'utf8');
    let off = 0;
    try {
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    } catch {
      // Bytes before `off` are written; the stream gets exactly the rest.
      viaStream = true;
      stream().write(bytes.subarray(off));
    }
  };
}

/**
 * terminalOf returns stream() when fd is a terminal (progress bars are drawn there; the stream decides, isTTY),
 * without building the stream when fd cannot be one: it is not a character device (a file, a pipe, a socket), or
 * it is the null device (`stdio: 'ignore'`, `2>/dev/null`).
 */
export function terminalOf<S extends { isTTY?: boolean }>(fd: number, stream: () => S): S | undefined {
  try {
    const st = fstatSync(fd);
    if (!st.isCharacterDevice() || st.rdev === statSync('/dev/null').rdev) return undefined;
  } catch {
    // fd closed, or no /dev/null: let the stream decide, as before.
  }
  const s = stream();
  return s.isTTY === true ? s : undefined;
}

/** processIo is the CliIo of this process: descriptors 1 and 2 (fdWriter), its environment, directory and clock. */
export function processIo(): {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: NodeJS.ProcessEnv;
  cwd: string;
  now: () => Date;
  terminal: NodeJS.WriteStream | undefined;
} {
  return {
    stdout: fdWriter(1, () => process.stdout),
    stderr: fdWriter(2, () => process.stderr),
    env: process.env,
    cwd: process.cwd(),
    now: () => new Date(),
    terminal: terminalOf(2, () => process.stderr),
  };
}
