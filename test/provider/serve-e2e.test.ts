/**
 * End to end as an operator and a boot client would: the real `custody serve` process (what `npm start` runs) on a
 * loopback port, publishing by directory + SIGHUP and by `custody publish`, `custody fetch` with a pinned
 * fingerprint, `verify-manifest --require-log` on what was fetched, HTTPS with a private CA, and a clean SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli, spawnCli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';
import { serveChild as serve } from './harness.ts';

async function waitFor(cond: () => Promise<boolean>, what: string): Promise<void> {
  // Up to a minute: the daemon is a separate process and the machine may be loaded (the test's own timeout is 120 s).
  for (let i = 0; i < 1200; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('custody serve: default data dir, SIGHUP publishing, custody publish, custody fetch, verify-manifest, SIGTERM', { timeout: 120_000 }, async (t) => {
  const dir = tmpDir(t);
  // No --data: ./custody-data in the working directory, as `npm start` does.
  const s = await serve(t, dir, []);
  assert.equal(s.info.data_dir, join(dir, 'custody-data'));
  assert.match(s.info.trust_fingerprint, /^sha256:[0-9a-f]{64}$/);
  assert.match(s.info.log_vkey, /\/custody\/log\+[0-9a-f]{8}\+/);
  const url = s.info.url;

  // Publish by directory, then SIGHUP.
  const inc = join(dir, 'custody-data', 'incoming', 'stable', 'x86_64');
  mkdirSync(inc, { recursive: true });
  writeFileSync(join(inc, 'vmlinuz-6.1'), Buffer.alloc(70_000, 1));
  writeFileSync(join(inc, 'initrd.img'), 'initrd');
  s.proc.kill('SIGHUP');
  await waitFor(async () => (await fetch(`${url}/stable/x86_64/manifest.json`)).status === 200, 'the SIGHUP release');

  // Publish by upload.
  writeFileSync(join(dir, 'rootfs.squashfs'), Buffer.alloc(5000, 9));
  const pub = await cli(['publish', url, '--token-file', 'custody-data/admin.token', '--channel', 'testing', '--arch', 'aarch64', 'rootfs.squashfs', '--version', '7'], { cwd: dir });
  assert.equal(pub.code, 0, pub.stderr);
  assert.match(pub.stdout, /^uploaded rootfs\.squashfs {2}sha256:[0-9a-f]{64} {2}5000 bytes$/m);
  assert.match(pub.stdout, /^released testing\/aarch64 sequence \d+ digest sha256:[0-9a-f]{64} log index \d+$/m);
  const badToken = join(dir, 'bad.token');
  writeFileSync(badToken, 'x'.repeat(40) + '\n', { mode: 0o600 });
  const denied = await cli(['publish', url, '--token-file', badToken, '--channel', 'testing', '--arch', 'aarch64', 'rootfs.squashfs'], { cwd: dir });
  // The provider's own refusal, passed on with its code (exit 1, as sign-remote's bad token), not a "retry" I/O error.
  assert.equal(denied.code, 1);
  assert.match(denied.stderr, /ERR_PROVIDER_UNAUTHORIZED/);

  // A boot client: pinned fingerprint, log required, rollback state.
  for (const [channel, arch, files] of [['stable', 'x86_64', 2], ['testing', 'aarch64', 1]] as const) {
    const f = await cli(
      ['fetch', url, '--channel', channel, '--arch', arch, '--root-fingerprint', s.info.trust_fingerprint, '--require-log', s.info.log_vkey, '--state', 'boot.state', '--output', `boot-${channel}`, '--json'],
      { cwd: dir },
    );
    assert.equal(f.code, 0, f.stderr);
    assert.equal((JSON.parse(f.stdout) as { files: unknown[] }).files.length, files);
  }
  // What was fetched verifies offline with the core commands (manifest + proof beside it).
  writeFileSync(join(dir, 'root.json'), await (await fetch(`${url}/trust/root.json`)).text());
  const vm = await cli(['verify-manifest', 'boot-stable/manifest.json', '--trust', 'root.json', '--require-log', s.info.log_vkey], { cwd: dir });
  assert.equal(vm.code, 0, vm.stderr);
  const va = await cli(['verify', 'boot-stable/manifest.json', 'boot-stable/vmlinuz-6.1', 'boot-stable/initrd.img', '--trust', 'root.json'], { cwd: dir });
  assert.equal(va.code, 0, va.stderr);

  // SIGTERM: a clean stop, recorded in the audit log, whose chain verifies.
  s.proc.kill('SIGTERM');
  assert.equal(await s.exited, 0, s.stderr());
  const audit = await cli(['audit', 'verify', 'custody-data/audit.jsonl', '--json'], { cwd: dir });
  assert.equal(audit.code, 0, audit.stderr);
  const events = readFileSync(join(dir, 'custody-data', 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { event: string }).event);
  // The first manifest.signed is the sample release of a first start (an empty data directory). Every signature is
  // also a key.used event (server/key-use, test/provider/key-custody.test.ts), interleaved with the others.
  assert.ok(events.filter((e) => e === 'key.used').length >= 3);
  assert.deepEqual(events.filter((e) => e !== 'key.used'), ['daemon.started', 'manifest.signed', 'manifest.signed', 'blob.stored', 'manifest.signed', 'admin.refused', 'daemon.stopped']);

  // A second daemon on the same data directory while the first runs is refused (one writer per log).
  const again = await serve(t, dir, []);
  const second = await spawnCli(['serve', '--port', '0'], { cwd: dir, env: { PATH: process.env.PATH, HOME: process.env.HOME } });
  assert.equal(second.code, 2, second.stderr);
  assert.match(second.stderr, /ERR_LOG_LOCKED/);
  again.proc.kill('SIGTERM');
  assert.equal(await again.exited, 0);
});

test('custody serve over HTTPS with a private CA; custody fetch trusts it through NODE_EXTRA_CA_CERTS', { timeout: 120_000 }, async (t) => {
  const dir = tmpDir(t);
  const openssl = spawnSync('openssl', ['version']);
  if (openssl.status !== 0) {
    t.skip('SKIPPED LOUDLY: openssl is not installed, cannot make a test certificate (.ci/run installs it)');
    return;
  }
  const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'ed25519', '-keyout', 'tls.key', '-out', 'tls.crt', '-days', '2', '-nodes', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { cwd: dir });
  assert.equal(gen.status, 0, gen.stderr.toString());
  const s = await serve(t, dir, ['--data', 'd', '--tls-cert', 'tls.crt', '--tls-key', 'tls.key']);
  assert.match(s.info.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  mkdirSync(join(dir, 'd', 'incoming', 'stable', 'x86_64'), { recursive: true });
  writeFileSync(join(dir, 'd', 'incoming', 'stable', 'x86_64', 'vmlinuz'), 'kernel over tls');
  s.proc.kill('SIGHUP');
  const args = ['fetch', s.info.url, '--channel', 'stable', '--arch', 'x86_64', '--root-fingerprint', s.info.trust_fingerprint, '--require-log', s.info.log_vkey, '--output', 'boot'];
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_EXTRA_CA_CERTS: join(dir, 'tls.crt') };
  let f = await spawnCli(args, { cwd: dir, env });
  for (let i = 0; i < 50 && f.code !== 0 && /ERR_PROVIDER_NOT_FOUND/.test(f.stderr); i++) {
    await new Promise((r) => setTimeout(r, 100));
    f = await spawnCli(args, { cwd: dir, env });
  }
  assert.equal(f.code, 0, f.stderr);
  assert.equal(readFileSync(join(dir, 'boot', 'vmlinuz'), 'utf8'), 'kernel over tls');
  // Without the CA the TLS handshake fails: a network error, not a verification bypass.
  const untrusted = await spawnCli(args, { cwd: dir, env: { PATH: process.env.PATH, HOME: process.env.HOME } });
  assert.equal(untrusted.code, 3);
  assert.match(untrusted.stderr, /ERR_IO_NETWORK/);
});
