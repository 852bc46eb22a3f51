/**
 * serve-child — runs the `custody log serve` command implementation (src/cli/commands/log.ts) as its own process,
 * without the CLI dispatcher that loads every other command: the crash tests restart the log dozens of times, and
 * this halves each start. Arguments are those of `custody log serve`. The e2e test uses the real `custody` binary.
 */
import { isTrustError } from '../../src/errors.ts';
import { logServe } from '../../src/cli/commands/log.ts';

const argv = process.argv.slice(2);
// The parent holds our stdin open; when it goes away (crash, killed test run) we stop too.
process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM'));
process.stdin.resume();
try {
  process.exitCode = await logServe.run({
    argv,
    json: false,
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    print: (line) => process.stdout.write(line + '\n'),
    result: () => {},
    env: process.env,
    cwd: process.cwd(),
    now: () => new Date(),
  });
} catch (e) {
  process.stderr.write(`custody: error: ${(e as Error).message}${isTrustError(e) ? ` [${e.code}]` : ''}\n`);
  process.exitCode = isTrustError(e) ? e.exitCode : 70;
} finally {
  process.stdin.destroy(); // the open pipe would keep the process alive after the server stopped
}
