/**
 * The TUF repository of `custody serve` (server/provider/tuf-repo) read by a real third-party client: tuf-js 5's
 * `Updater` refreshes from the daemon on loopback, finds and downloads a target, and refuses the hostile variants a
 * proxy in front of the daemon serves: a rolled-back timestamp, a mix-and-match snapshot, an expired timestamp,
 * changed target bytes, and a root rotation signed by too few old keys.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Updater } from 'tuf-js';
import { PrivateKey, sha256 } from '../../src/crypto/index.ts';
import { parseRoot } from '../../src/trust/root.ts';
import { parseTufMetadata } from '../../src/trust/tuf-metadata.ts';
import { tmpDir } from '../support/tmp.ts';
import { putIncoming } from './harness.ts';
import { expiredTimestamp, flipByte, getBytes, proxy, rotatedRoot, tufDaemon, type TufFixture } from './tuf-harness.ts';

/** client makes a tuf-js Updater against `base` (the daemon or the proxy) whose metadata dir starts with root1. */
function client(t: TestContext, f: TufFixture, base: string, metadataDir?: string): { updater: Updater; metadataDir: string; targetDir: string } {
  const dir = tmpDir(t);
  const md = metadataDir ?? join(dir, 'metadata');
  const targetDir = join(dir, 'targets');
  mkdirSync(md, { recursive: true });
  mkdirSync(targetDir, { recursive: true });
  if (metadataDir === undefined) writeFileSync(join(md, 'root.json'), f.root1);
  const updater = new Updater({ metadataBaseUrl: `${base}/tuf`, targetBaseUrl: `${base}/tuf/targets`, metadataDir: md, targetDir, config: { fetchRetry: 0 } });
  return { updater, metadataDir: md, targetDir };
}

test('tuf-js refreshes from the daemon, finds a target with its custom fields, and downloads it verified', async (t) => {
  const f = await tufDaemon(t);
  const { updater, targetDir, metadataDir } = client(t, f, f.d.url);
  await updater.refresh();
  const info = await updater.getTargetInfo(f.payloadPath);
  assert.ok(info, 'the sample payload is a target');
  assert.equal(info.length, f.payload.length);
  assert.equal(info.hashes.sha256, Buffer.from(sha256(f.payload)).toString('hex'));
  const release = f.d.releases.get('sample', f.arch)!;
  assert.deepEqual(info.custom, {
    channel: 'sample',
    arch: f.arch,
    sequence: release.manifest.manifest.sequence,
    version: 'sample-1',
    artifact: 'payload',
    manifest_digest: release.manifest.digest,
  });
  const path = await updater.downloadTarget(info);
  assert.ok(path.startsWith(targetDir));
  assert.deepEqual(readFileSync(path), f.payload);
  assert.deepEqual(readdirSync(metadataDir).sort(), ['root.json', 'snapshot.json', 'targets.json', 'timestamp.json']);

  // A new release: new targets, snapshot and timestamp versions, which the same client follows.
  const before = parseTufMetadata(readFileSync(join(metadataDir, 'timestamp.json')), 'timestamp').version;
  putIncoming(f.d, 'stable', 'x86_64', { vmlinuz: 'kernel bytes' });
  await f.d.rescan();
  const again = client(t, f, f.d.url, metadataDir).updater;
  await again.refresh();
  assert.ok(parseTufMetadata(readFileSync(join(metadataDir, 'timestamp.json')), 'timestamp').version > before);
  const k = await again.getTargetInfo('stable/x86_64/vmlinuz');
  assert.ok(k, 'the new release is a target');
  assert.equal(k.custom.channel, 'stable');
  assert.deepEqual(readFileSync(await again.downloadTarget(k)), Buffer.from('kernel bytes'));
});

test('tuf-js follows a root rotation signed by old and new root keys', async (t) => {
  const f = await tufDaemon(t);
  const p = await proxy(t, f.d.url);
  const newKey = PrivateKey.generate();
  p.overrides.set('/tuf/2.root.json', rotatedRoot(f, newKey, [f.rootKey, newKey]));
  const { updater, metadataDir } = client(t, f, p.url);
  await updater.refresh();
  assert.equal(parseRoot(readFileSync(join(metadataDir, 'root.json'))).version, 2);
  assert.ok(await updater.getTargetInfo(f.payloadPath));
});

test('tuf-js refuses a rolled-back timestamp', async (t) => {
  const f = await tufDaemon(t);
  const p = await proxy(t, f.d.url);
  const old = await getBytes(f.d.url, '/tuf/timestamp.json');
  putIncoming(f.d, 'stable', 'x86_64', { vmlinuz: 'v2' });
  await f.d.rescan();
  const { updater, metadataDir } = client(t, f, p.url);
  await updater.refresh(); // trusts the newer timestamp
  p.overrides.set('/tuf/timestamp.json', old);
  const later = client(t, f, p.url, metadataDir).updater;
  await assert.rejects(later.refresh(), /New timestamp version 1 is less than current version 2/);
});

test('tuf-js refuses a mix-and-match snapshot (another version than the timestamp names)', async (t) => {
  const f = await tufDaemon(t);
  const p = await proxy(t, f.d.url);
  const oldTs = parseTufMetadata(await getBytes(f.d.url, '/tuf/timestamp.json'), 'timestamp');
  const oldSnapshot = await getBytes(f.d.url, `/tuf/${oldTs.snapshot.version}.snapshot.json`);
  putIncoming(f.d, 'stable', 'x86_64', { vmlinuz: 'v2' });
  await f.d.rescan();
  const ts = parseTufMetadata(await getBytes(f.d.url, '/tuf/timestamp.json'), 'timestamp');
  assert.ok(ts.snapshot.version > oldTs.snapshot.version);
  p.overrides.set(`/tuf/${ts.snapshot.version}.snapshot.json`, oldSnapshot);
  const { updater } = client(t, f, p.url);
  await assert.rejects(updater.refresh(), /Unable to load snapshot metadata.*Expected hash/);
});

test('tuf-js refuses an expired timestamp', async (t) => {
  const f = await tufDaemon(t);
  const p = await proxy(t, f.d.url);
  p.overrides.set('/tuf/timestamp.json', await expiredTimestamp(f));
  const { updater } = client(t, f, p.url);
  await assert.rejects(updater.refresh(), /timestamp\.json is expired/);
});

test('tuf-js refuses a target whose bytes changed', async (t) => {
  const f = await tufDaemon(t);
  const p = await proxy(t, f.d.url);
  const hex = Buffer.from(sha256(f.payload)).toString('hex');
  p.overrides.set(`/tuf/targets/sample/${f.arch}/${hex}.payload.bin`, flipByte(f.payload));
  const { updater, targetDir } = client(t, f, p.url);
  await updater.refresh();
  const info = await updater.getTargetInfo(f.payloadPath);
  await assert.rejects(updater.downloadTarget(info!), /Expected hash/);
  assert.deepEqual(readdirSync(targetDir), [], 'nothing kept');
});

test('tuf-js refuses a root rotation signed by too few old root keys', async (t) => {
  const f = await tufDaemon(t);
  const p = await proxy(t, f.d.url);
  const newKey = PrivateKey.generate();
  p.overrides.set('/tuf/2.root.json', rotatedRoot(f, newKey, [newKey]));
  const { updater, metadataDir } = client(t, f, p.url);
  await assert.rejects(updater.refresh(), /root was signed by 0\/1 keys/);
  assert.equal(parseRoot(readFileSync(join(metadataDir, 'root.json'))).version, 1, 'root 1 still trusted');
});
