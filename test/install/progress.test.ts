/**
 * Progress bars of `custody fetch` and `custody install`: drawn on stderr when it is a terminal (a real
 * pseudo-terminal made by util-linux `script`), absent on a pipe and with --json.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI_MAIN, spawnCli, TSX_LOADER } from '../support/cli.ts';
import { provider } from './helpers.ts';

const hasScript = ((): boolean => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** onTerminal runs the CLI on a new pseudo-terminal (asynchronously: the provider answers from this process). */
function onTerminal(argv: string[], cwd: string): Promise<{ status: number | null; stdout: string }> {
  const line = [process.execPath, '--import', TSX_LOADER, CLI_MAIN, ...argv].map(sh).join(' ');
  // script -q: no banner; -e: its exit status is the command's; -c: run this line on a new pseudo-terminal.
  const child = spawn('script', ['-qec', line, '/dev/null'], { cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME, TERM: 'xterm' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stdout += d.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout })));
}

const sh = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
/** BAR is what one finished bar line shows: the file, 100%, sizes, a rate and an ETA. */
const BAR = /app\.bin █+ 100% 97\.7 KiB\/97\.7 KiB [0-9.]+ [KMG]?i?B\/s ETA \d\d:\d\d/;

test('a progress bar per download on a terminal; nothing but the result on a pipe or with --json', { skip: !hasScript && 'SKIPPED: util-linux script(1) is missing, no pseudo-terminal to test on' }, async (t) => {
  const { dir, d, publish, args } = await provider(t);
  await publish(1);
  const fetchArgs = ['fetch', d.url, '--channel', 'stable', '--arch', 'x86_64', '--root-fingerprint', d.identity.fingerprint, '--output', join(dir, 'out')];
  for (const argv of [fetchArgs, args()]) {
    const r = await onTerminal(argv, dir);
    assert.equal(r.status, 0, r.stdout);
    assert.match(r.stdout, BAR, `${argv[0]} on a terminal:\n${r.stdout}`);
    assert.match(r.stdout, argv[0] === 'fetch' ? /VERIFIED stable\/x86_64/ : /INSTALLED stable\/x86_64/);

    const piped = await spawnCli(argv.map((a) => (a === join(dir, 'out') ? join(dir, 'out2') : a)).concat(argv[0] === 'install' ? ['--target', join(dir, 'piped')] : []), { cwd: dir });
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stderr, '', `${argv[0]} on a pipe wrote to stderr`);
    assert.doesNotMatch(piped.stdout, /ETA|█/);
  }
  const r = await onTerminal([...fetchArgs, '--output', join(dir, 'out3'), '--json'], dir);
  assert.equal(r.status, 0, r.stdout);
  assert.doesNotMatch(r.stdout, /ETA|█/);
  assert.equal((JSON.parse(r.stdout.trim()) as { ok: boolean }).ok, true);
});
