/**
 * docs/install.md's systemd unit, run as written: the `ExecStart=` line is taken from the document, its `${VAR}`
 * references are expanded as systemd does (each one word, from the EnvironmentFile — here pointing at a provider
 * on loopback and a temporary target), and the command runs as a real child process. Only the executable path
 * (/usr/local/bin/custody) is replaced by this checkout's CLI.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { splitCommand } from '../../src/client/health-check.ts';
import { REPO_ROOT, spawnCli } from '../support/cli.ts';
import { putIncoming } from '../provider/harness.ts';
import { activeSequence, assertConsistent, provider } from './helpers.ts';

test('the systemd ExecStart line of docs/install.md installs, checks and is idempotent', async (t) => {
  const doc = readFileSync(join(REPO_ROOT, 'docs/install.md'), 'utf8');
  const lines = doc.split('\n').filter((l) => l.startsWith('ExecStart='));
  assert.equal(lines.length, 1, 'docs/install.md has one ExecStart= line');
  const vars = [...doc.matchAll(/^([A-Z_]+)=.+$/gm)].map((m) => m[1]!).filter((v) => v.startsWith('CUSTODY_') || v === 'APP_DIR');
  assert.deepEqual(vars.sort(), ['APP_DIR', 'CUSTODY_FINGERPRINT', 'CUSTODY_LOG_KEY', 'CUSTODY_PROVIDER']);

  const { dir, d, target } = await provider(t);
  putIncoming(d, 'stable', 'x86_64', { 'app.bin': Buffer.alloc(5000, 1), 'healthcheck.sh': 'test -s app.bin && test "$CUSTODY_CHANNEL" = stable\n' });
  await d.rescan();
  const env: Record<string, string> = { CUSTODY_PROVIDER: d.url, CUSTODY_FINGERPRINT: d.identity.fingerprint, CUSTODY_LOG_KEY: d.vkey, APP_DIR: target };
  // systemd: "${FOO}" as a word of its own is replaced by the variable's exact value, as exactly one argument.
  const words = splitCommand(lines[0]!.slice('ExecStart='.length)).map((w) => w.replace(/^\$\{([A-Z_]+)\}$/, (_, v: string) => env[v] ?? assert.fail(`${v} is not in the environment file`)));
  assert.equal(words[0], '/usr/local/bin/custody');
  assert.ok(!words.some((w) => w.includes('${')), words.join(' '));
  const run = () => spawnCli(words.slice(1), { cwd: dir });
  let r = await run();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^INSTALLED stable\/x86_64 /);
  assert.match(r.stdout, /health check passed/);
  const seq = await assertConsistent(target);
  assert.equal(seq, d.releases.get('stable', 'x86_64')!.manifest.manifest.sequence);
  r = await run();
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^UNCHANGED /);

  // A release whose check fails: the unit fails (exit 1) and the previous release stays active.
  putIncoming(d, 'stable', 'x86_64', { 'app.bin': Buffer.alloc(0) });
  await d.rescan();
  r = await run();
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[ERR_INSTALL_CHECK_FAILED\]/);
  assert.equal(activeSequence(target), seq);
});
