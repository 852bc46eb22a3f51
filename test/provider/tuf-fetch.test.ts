/**
 * `custody fetch --tuf` (client/tuf-client): our own TUF client of the daemon's repository. The same refusals as the
 * tuf-js test (test/provider/tuf-js.test.ts), each with its code, through the hostile proxy of tuf-harness; plus a
 * CLI transcript, a bootstrap by fingerprint, and the checks tuf-js reports differently (a snapshot of the wrong
 * version with no hash to give it away, a timestamp signed by another key, an endless target).
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pickTargets, tufFetch, type TufFetchOptions } from '../../src/client/tuf-client.ts';
import type { TargetsDocument } from '../../src/trust/tuf-metadata.ts';
import { PrivateKey, sha256 } from '../../src/crypto/index.ts';
import { encodeHex } from '../../src/encoding/bytes.ts';
import { parseRoot, verifyPinnedRoot } from '../../src/trust/root.ts';
import { createTimestamp, parseTufMetadata, signTufMetadata } from '../../src/trust/tuf-metadata.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';
import { putIncoming } from './harness.ts';
import { expiredTimestamp, flipByte, getBytes, proxy, rotatedRoot, tufDaemon, type TufFixture } from './tuf-harness.ts';

/** run fetches sample/<arch> from `base` with the state and output dirs of `dirs` (new ones by default). */
function run(t: TestContext, f: TufFixture, base: string, dirs?: { state: string; out: string }, extra: Partial<TufFetchOptions> = {}) {
  const d = dirs ?? { state: join(tmpDir(t), 'state'), out: join(tmpDir(t), 'out') };
  const root = verifyPinnedRoot(parseRoot(f.root1), { now: new Date() });
  const p = tufFetch({ url: `${base}/tuf`, channel: 'sample', arch: f.arch, trust: { root }, stateDir: d.state, outputDir: d.out, now: () => new Date(), ...extra });
  return { p, dirs: d };
}

test('fetch --tuf downloads the targets of a channel/arch, verified, and keeps the trusted metadata', async (t) => {
  const f = await tufDaemon(t);
  const { p, dirs } = run(t, f, f.d.url);
  const r = await p;
  assert.equal(r.sequence, f.d.releases.get('sample', f.arch)!.manifest.manifest.sequence);
  assert.equal(r.version, 'sample-1');
  assert.deepEqual(r.files.map((x) => x.filename).sort(), ['README.txt', 'payload.bin']);
  assert.deepEqual(readFileSync(join(dirs.out, 'payload.bin')), f.payload);
  assert.deepEqual(readdirSync(dirs.out).sort(), ['README.txt', 'payload.bin'], 'no temporary file left');
  assert.deepEqual(readdirSync(dirs.state).sort(), ['bootstrap.json', 'root.json', 'snapshot.json', 'targets.json', 'timestamp.json']);
  assert.equal(r.versions.root, 1);

  // A second run with the same state follows a new release; --artifact limits the download.
  putIncoming(f.d, 'stable', 'x86_64', { vmlinuz: 'kernel', 'initramfs.img': 'initrd' });
  await f.d.rescan();
  const out2 = join(tmpDir(t), 'out2');
  const r2 = await tufFetch({ url: `${f.d.url}/tuf`, channel: 'stable', arch: 'x86_64', trust: { root: verifyPinnedRoot(parseRoot(f.root1), { now: new Date() }) }, stateDir: dirs.state, outputDir: out2, artifacts: ['vmlinuz'], now: () => new Date() });
  assert.ok(r2.versions.timestamp > r.versions.timestamp);
  assert.deepEqual(readdirSync(out2), ['vmlinuz']);
  assert.equal(readFileSync(join(out2, 'vmlinuz'), 'utf8'), 'kernel');
  await assertRejectsCode(
    tufFetch({ url: `${f.d.url}/tuf`, channel: 'nightly', arch: 'x86_64', trust: { root: verifyPinnedRoot(parseRoot(f.root1), { now: new Date() }) }, stateDir: dirs.state, outputDir: out2, now: () => new Date() }),
    'ERR_TUF_TARGET_NOT_FOUND',
  );
});

test('custody fetch --tuf: a transcript, bootstrap by fingerprint, and a coded refusal', async (t) => {
  const f = await tufDaemon(t);
  const cwd = tmpDir(t);
  const args = ['fetch', '--tuf', `${f.d.url}/tuf`, '--channel', 'sample', '--arch', f.arch, '--root-fingerprint', f.d.identity.fingerprint, '--state', 'st', '--output', 'out'];
  const ok = await cli(args, { cwd });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`^VERIFIED sample/${f.arch} version sample-1 sequence \\d+ from http://127\\.0\\.0\\.1:\\d+/tuf \\(TUF\\)\\n  root v1, timestamp v\\d+, snapshot v\\d+, targets v\\d+\\n`));
  assert.ok(ok.stdout.includes('  payload.bin  4096 bytes  sha256 ok\n'), ok.stdout);
  assert.deepEqual(readFileSync(join(cwd, 'out', 'payload.bin')), f.payload);
  const json = await cli([...args, '--json'], { cwd });
  assert.equal(json.code, 0, json.stderr);
  const j = JSON.parse(json.stdout) as { ok: boolean; tuf: { root: number }; files: unknown[] };
  assert.equal(j.ok, true);
  assert.equal(j.tuf.root, 1);
  assert.equal(j.files.length, 2);

  const bad = await cli(['fetch', '--tuf', `${f.d.url}/tuf`, '--channel', 'sample', '--arch', f.arch, '--root-fingerprint', `sha256:${'0'.repeat(64)}`, '--state', 'st2', '--output', 'out2'], { cwd });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^custody: error: .*not the pinned sha256:0{64} \[ERR_PROVIDER_ROOT_FINGERPRINT\]\n/);
  assert.equal(existsSync(join(cwd, 'out2')), false, 'nothing written');
  const usage = await cli(['fetch', '--tuf', `${f.d.url}/tuf`, 'http://other', '--channel', 'c', '--arch', 'a', '--trust', 'r.json', '--state', 's', '--output', 'o'], { cwd });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /no provider URLs \[ERR_USAGE_ARGUMENT\]/);
});

test('fetch --tuf follows a root rotation signed by old and new keys, and refuses one signed by too few old keys', async (t) => {
  const f = await tufDaemon(t);
  const p = await proxy(t, f.d.url);
  const newKey = PrivateKey.generate();
  p.overrides.set('/tuf/2.root.json', rotatedRoot(f, newKey, [newKey]));
  const bad = run(t, f, p.url);
  await assertRejectsCode(bad.p, 'ERR_TRUST_THRESHOLD_UNMET');
  assert.equal(existsSync(bad.dirs.out), false, 'nothing downloaded');
  p.overrides.set('/tuf/2.root.json', rotatedRoot(f, newKey, [f.rootKey, newKey]));
  const good = await run(t, f, p.url, bad.dirs).p;
  assert.equal(good.versions.root, 2);
  assert.equal(parseRoot(readFileSync(join(bad.dirs.state, 'root.json'))).version, 2, 'the new root is kept');
});

test('fetch --tuf refuses a rolled-back timestamp', async (t) => {
  const f = await tufDaemon(t);
  const p = await proxy(t, f.d.url);
  const old = await getBytes(f.d.url, '/tuf/timestamp.json');
  putIncoming(f.d, 'stable', 'x86_64', { vmlinuz: 'v2' });
  await f.d.rescan();
  const first = run(t, f, p.url);
  await first.p;
  p.overrides.set('/tuf/timestamp.json', old);
  await assertRejectsCode(run(t, f, p.url, first.dirs).p, 'ERR_TUF_ROLLBACK');
});

test('fetch --tuf refuses a mix-and-match snapshot: other bytes than the timestamp hashes, or another version', async (t) => {
  const f = await tufDaemon(t);
  const p = await proxy(t, f.d.url);
  const oldTs = parseTufMetadata(await getBytes(f.d.url, '/tuf/timestamp.json'), 'timestamp');
  const oldSnapshot = await getBytes(f.d.url, `/tuf/${oldTs.snapshot.version}.snapshot.json`);
  putIncoming(f.d, 'stable', 'x86_64', { vmlinuz: 'v2' });
  await f.d.rescan();
  const ts = parseTufMetadata(await getBytes(f.d.url, '/tuf/timestamp.json'), 'timestamp');
  p.overrides.set(`/tuf/${ts.snapshot.version}.snapshot.json`, oldSnapshot);
  await assertRejectsCode(run(t, f, p.url).p, 'ERR_TUF_MIX_AND_MATCH');
  // A timestamp (validly signed) that names the version only: the snapshot's own version gives it away.
  const versionOnly = createTimestamp({ version: ts.version + 1, expires: new Date(Date.now() + 3_600_000), snapshot: { version: ts.snapshot.version } });
  p.overrides.set('/tuf/timestamp.json', Buffer.from(signTufMetadata(versionOnly, [f.timestampKey])));
  const e = await run(t, f, p.url).p.then(
    () => assert.fail('accepted'),
    (x: unknown) => x as Error,
  );
  assert.equal((e as { code?: string }).code, 'ERR_TUF_MIX_AND_MATCH');
  assert.match(e.message, new RegExp(`snapshot version ${oldTs.snapshot.version} is not the version ${ts.snapshot.version} that the timestamp names`));
});

test('fetch --tuf refuses an expired timestamp, and one signed by a key the root does not give the role', async (t) => {
  const f = await tufDaemon(t);
  const p = await proxy(t, f.d.url);
  p.overrides.set('/tuf/timestamp.json', await expiredTimestamp(f));
  await assertRejectsCode(run(t, f, p.url).p, 'ERR_TUF_EXPIRED');
  const cur = parseTufMetadata(await getBytes(f.d.url, '/tuf/timestamp.json'), 'timestamp');
  const forged = signTufMetadata(createTimestamp({ version: cur.version + 1, expires: new Date(Date.now() + 3_600_000), snapshot: cur.snapshot }), [PrivateKey.generate()]);
  p.overrides.set('/tuf/timestamp.json', Buffer.from(forged));
  await assertRejectsCode(run(t, f, p.url).p, 'ERR_TUF_THRESHOLD_UNMET');
});

test('fetch --tuf refuses a target whose bytes changed, or that goes on past its signed length; nothing is kept', async (t) => {
  const f = await tufDaemon(t);
  const p = await proxy(t, f.d.url);
  const hex = Buffer.from(sha256(f.payload)).toString('hex');
  const path = `/tuf/targets/sample/${f.arch}/${hex}.payload.bin`;
  p.overrides.set(path, flipByte(f.payload));
  const changed = run(t, f, p.url, undefined, { artifacts: ['payload.bin'] });
  await assertRejectsCode(changed.p, 'ERR_TUF_TARGET_MISMATCH');
  assert.deepEqual(readdirSync(changed.dirs.out), [], 'nothing kept, no temporary file');
  p.overrides.set(path, Buffer.concat([f.payload, Buffer.alloc(1 << 20)]));
  const longer = run(t, f, p.url, undefined, { artifacts: ['payload.bin'] });
  await assertRejectsCode(longer.p, 'ERR_TUF_TARGET_MISMATCH');
  assert.deepEqual(readdirSync(longer.dirs.out), []);
});

test('fetch --tuf writes no file through a symlink planted at the old predictable temporary name', async (t) => {
  const f = await tufDaemon(t);
  const out = join(tmpDir(t), 'out');
  const victim = join(tmpDir(t), 'victim');
  writeFileSync(victim, 'precious');
  // The name the previous code opened with O_TRUNC (and without O_NOFOLLOW) for payload.bin, in this process.
  mkdirSync(out);
  const planted = join(out, `.custody-tuf-${process.pid}-${encodeHex(sha256('payload.bin')).slice(0, 16)}.part`);
  symlinkSync(victim, planted);
  const { p } = run(t, f, f.d.url, { state: join(tmpDir(t), 'state'), out }, { artifacts: ['payload.bin'] });
  await p;
  assert.equal(readFileSync(victim, 'utf8'), 'precious', 'the symlink target is untouched');
  assert.ok(!lstatSync(join(out, 'payload.bin')).isSymbolicLink());
  assert.deepEqual(readFileSync(join(out, 'payload.bin')), f.payload);
  assert.equal(readlinkSync(planted), victim);
  assert.deepEqual(readdirSync(out).sort(), [planted.split('/').pop()!, 'payload.bin'].sort(), 'no staging directory left');
});

test('a failed fetch --tuf leaves the previous release whole in the output directory, never a mix of two', async (t) => {
  const f = await tufDaemon(t);
  const p = await proxy(t, f.d.url);
  const dirs = { state: join(tmpDir(t), 'state'), out: join(tmpDir(t), 'out') };
  const first = await run(t, f, p.url, dirs).p;
  const before = new Map(readdirSync(dirs.out).map((n) => [n, readFileSync(join(dirs.out, n))]));
  assert.equal(before.size, 2);
  // A new release of both files; the target fetched LAST is served with changed bytes.
  const next = { 'README.txt': 'release two readme\n', 'payload.bin': Buffer.alloc(2048, 7) };
  putIncoming(f.d, 'sample', f.arch, next);
  await f.d.rescan();
  // The order the new release's targets are fetched in (a separate state and output directory).
  const probe = await run(t, f, p.url).p;
  assert.equal(probe.sequence > first.sequence, true);
  const last = probe.files[probe.files.length - 1]!.filename as keyof typeof next;
  const bytes = Buffer.from(next[last]);
  p.overrides.set(`/tuf/targets/sample/${f.arch}/${encodeHex(sha256(bytes))}.${last}`, flipByte(bytes));
  await assertRejectsCode(run(t, f, p.url, dirs).p, 'ERR_TUF_TARGET_MISMATCH');
  assert.deepEqual(new Map(readdirSync(dirs.out).map((n) => [n, readFileSync(join(dirs.out, n))])), before, 'the first release, whole; no staging left');
  // Served correctly, the new release replaces both.
  p.overrides.clear();
  await run(t, f, p.url, dirs).p;
  assert.equal(readFileSync(join(dirs.out, 'README.txt'), 'utf8'), 'release two readme\n');
  assert.deepEqual(readFileSync(join(dirs.out, 'payload.bin')), next['payload.bin']);
});

test('fetch --tuf --root-fingerprint: checked on every run; the state remembers its repository and bootstrap fingerprint', async (t) => {
  const f = await tufDaemon(t);
  const p = await proxy(t, f.d.url);
  const cwd = tmpDir(t);
  const args = (url: string, fp: string, out: string): string[] => ['fetch', '--tuf', `${url}/tuf`, '--channel', 'sample', '--arch', f.arch, '--root-fingerprint', fp, '--state', 'st', '--output', out];
  const ok = await cli(args(f.d.url, f.d.identity.fingerprint, 'o1'), { cwd });
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(JSON.parse(readFileSync(join(cwd, 'st', 'bootstrap.json'), 'utf8')), { url: `${f.d.url}/tuf/`, fingerprint: f.d.identity.fingerprint });
  // A malformed pin is a usage error even though the state has a root.
  const malformed = await cli(args(f.d.url, 'sha256:nothex', 'o2'), { cwd });
  assert.equal(malformed.code, 2, malformed.stderr);
  assert.match(malformed.stderr, /expected a root fingerprint sha256:<64 lowercase hex>, got "sha256:nothex" \[ERR_USAGE_ARGUMENT\]/);
  // Another well-formed pin, or another repository URL, with this state: refused, nothing fetched.
  const other = await cli(args(f.d.url, `sha256:${'0'.repeat(64)}`, 'o3'), { cwd });
  assert.equal(other.code, 1, other.stderr);
  assert.match(other.stderr, /was bootstrapped with --root-fingerprint sha256:[0-9a-f]{64}, not sha256:0{64} \[ERR_TUF_STATE_MISMATCH\]/);
  const moved = await cli(args(p.url, f.d.identity.fingerprint, 'o4'), { cwd });
  assert.equal(moved.code, 1, moved.stderr);
  assert.match(moved.stderr, /was made for "http:\/\/127\.0\.0\.1:\d+\/tuf\/", not "http:\/\/127\.0\.0\.1:\d+\/tuf\/" \[ERR_TUF_STATE_MISMATCH\]/);
  for (const o of ['o2', 'o3', 'o4']) assert.equal(existsSync(join(cwd, o)), false);
  // The same pin and URL keep working.
  const again = await cli(args(f.d.url, f.d.identity.fingerprint, 'o5'), { cwd });
  assert.equal(again.code, 0, again.stderr);
});

test('a target named \'\', \'.\' or \'..\' under channel/arch is refused: it would name the output directory or its parent', () => {
  const target = { length: 1, hashes: { sha256: 'ab'.repeat(32) }, custom: { channel: 'stable', arch: 'x86_64', sequence: 1 } };
  for (const name of ['', '.', '..']) {
    const tg = { type: 'targets', version: 1, targets: new Map([[`stable/x86_64/${name}`, target]]) } as unknown as TargetsDocument;
    assert.throws(() => pickTargets(tg, 'stable', 'x86_64', undefined), (e: unknown) => (e as { code?: string }).code === 'ERR_TUF_SCHEMA');
  }
  const ok = { type: 'targets', version: 1, targets: new Map([['stable/x86_64/..a', target]]) } as unknown as TargetsDocument;
  assert.deepEqual(pickTargets(ok, 'stable', 'x86_64', undefined).map(([, , f]) => f), ['..a']);
});
