/**
 * server/provider/tuf-repo: when the daemon re-signs its TUF metadata (an injected clock walks through the expiry
 * thresholds), versions that only grow across restarts and key rotations, pruning of old versions; a root whose
 * online roles name keys the daemon lacks turns /tuf/ off with a warning; and a cluster whose workers serve the
 * metadata the leader writes (`custody serve --workers 2`, our client through it).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Updater } from 'tuf-js';
import { formatRoot } from '../../src/trust/root.ts';
import { parseTufMetadata } from '../../src/trust/tuf-metadata.ts';
import { TUF_KEEP_VERSIONS, TufRepository, type TufVersions } from '../../src/server/provider/tuf-repo.ts';
import { writeKeyPair } from '../../src/keys/key-file.ts';
import { tufKeyId } from '../../src/keys/key-id.ts';
import { cli } from '../support/cli.ts';
import { NOW, key, rootOf, trusted } from '../support/fixtures.ts';
import { tmpDir } from '../support/tmp.ts';
import { get, serveChild, start } from './harness.ts';

const k = { root: key('repo-root'), targets: key('repo-targets'), snapshot: key('repo-snapshot'), timestamp: key('repo-timestamp'), timestamp2: key('repo-timestamp-2') };
const rootWith = (timestamp = k.timestamp) =>
  trusted(
    rootOf([k.root], 1, [k.root], {
      roles: { targets: { keys: [k.targets], threshold: 1 }, snapshot: { keys: [k.snapshot], threshold: 1 }, timestamp: { keys: [timestamp], threshold: 1 } },
    }),
  );
const H = 3_600_000;
const D = 24 * H;

test('timestamp, snapshot and targets are re-signed when half (a third for targets) of their validity is left; versions only grow', async (t) => {
  const dir = join(tmpDir(t), 'tuf');
  let now = NOW;
  const open = (timestamp = k.timestamp) =>
    TufRepository.open({ dir, root: rootWith(timestamp), signers: { targets: k.targets, snapshot: k.snapshot, timestamp }, now: () => now });
  const repo = await open();
  assert.deepEqual(await repo.sync([]), ['targets', 'snapshot', 'timestamp']);
  assert.deepEqual(repo.versions, { timestamp: 1, snapshot: 1, targets: 1 });
  assert.deepEqual(await repo.sync([]), [], 'nothing due');
  const ts = parseTufMetadata(readFileSync(join(dir, 'timestamp.json')), 'timestamp');
  assert.equal(ts.expires.getTime(), NOW.getTime() + D, 'timestamp: 1 day');
  assert.equal(parseTufMetadata(readFileSync(join(dir, '1.snapshot.json')), 'snapshot').expires.getTime(), NOW.getTime() + 7 * D, 'snapshot: 7 days');

  now = new Date(NOW.getTime() + 11 * H);
  assert.deepEqual(await repo.sync([]), [], 'more than half of a day left');
  now = new Date(NOW.getTime() + 13 * H);
  assert.deepEqual(await repo.sync([]), ['timestamp']);
  assert.deepEqual(repo.versions, { timestamp: 2, snapshot: 1, targets: 1 });
  now = new Date(NOW.getTime() + 4 * D);
  assert.deepEqual(await repo.sync([]), ['snapshot', 'timestamp']);
  now = new Date(NOW.getTime() + 21 * D);
  assert.deepEqual(await repo.sync([]), ['targets', 'snapshot', 'timestamp']);
  assert.deepEqual(repo.versions, { timestamp: 4, snapshot: 3, targets: 2 });

  // A restart serves the same files; a rotation of the timestamp key re-signs everything, under higher versions.
  const again = await open();
  assert.deepEqual(again.versions, { timestamp: 4, snapshot: 3, targets: 2 });
  assert.deepEqual(await again.sync([]), []);
  const rotated = await open(k.timestamp2);
  assert.equal(rotated.versions, undefined, 'the served timestamp no longer verifies');
  assert.deepEqual(await rotated.sync([]), ['targets', 'snapshot', 'timestamp']);
  assert.deepEqual(rotated.versions, { timestamp: 5, snapshot: 4, targets: 3 });

  // Old snapshot and targets versions are pruned, TUF_KEEP_VERSIONS kept.
  for (let i = 0; i < TUF_KEEP_VERSIONS + 4; i++) {
    now = new Date(now.getTime() + 21 * D);
    await rotated.sync([]);
  }
  const v = (rotated as { versions: TufVersions | undefined }).versions;
  assert.ok(v);
  const targets = readdirSync(dir).filter((n) => n.endsWith('.targets.json')).map((n) => Number(n.split('.')[0])).sort((a, b) => a - b);
  assert.equal(targets.length, TUF_KEEP_VERSIONS);
  assert.equal(targets.at(-1), v.targets);
});

test('a root whose snapshot and timestamp roles name keys the daemon lacks: /tuf/ is off, with a warning saying what to do', async (t) => {
  const dir = tmpDir(t);
  const signer = key('off-signer');
  writeFileSync(join(dir, 'root.json'), formatRoot(rootOf([k.root], 1, [k.root], { expires: new Date(Date.now() + 30 * D), roles: { targets: { keys: [signer], threshold: 1 } } })));
  await writeKeyPair(join(dir, 'signer.pem'), signer);
  const d = await start(t, join(dir, 'data'), { trustFile: join(dir, 'root.json'), keyFile: join(dir, 'signer.pem') });
  assert.equal(d.tuf, undefined);
  assert.match(d.identity.warnings.join('\n'), /the TUF repository under \/tuf\/ is off: the trust root's snapshot role names no key the daemon holds .*custody trust add-key --role snapshot/);
  const r = await get(d, '/tuf/timestamp.json');
  assert.equal(r.status, 404);
  assert.equal(r.json().code, 'ERR_PROVIDER_NOT_FOUND');
});

test('a root made before the online keys (snapshot and timestamp given to the signing key): the signer signs them', async (t) => {
  const dir = tmpDir(t);
  const signer = key('legacy-signer');
  writeFileSync(join(dir, 'root.json'), formatRoot(rootOf([k.root], 1, [k.root], { expires: new Date(Date.now() + 30 * D), roles: { targets: { keys: [signer], threshold: 1 }, snapshot: { keys: [signer], threshold: 1 }, timestamp: { keys: [signer], threshold: 1 } } })));
  await writeKeyPair(join(dir, 'signer.pem'), signer);
  const d = await start(t, join(dir, 'data'), { trustFile: join(dir, 'root.json'), keyFile: join(dir, 'signer.pem'), sample: true });
  assert.ok(d.tuf, 'the repository is on');
  assert.equal(d.identity.tufOff, undefined);
  const ts = parseTufMetadata((await get(d, '/tuf/timestamp.json')).body, 'timestamp');
  assert.deepEqual(ts.signatures.map((x) => x.keyid), [tufKeyId(signer.publicKey)]);
  // With --trust FILE the root is served as its own version only.
  assert.equal((await get(d, '/tuf/1.root.json')).status, 200);
  assert.equal((await get(d, '/tuf/2.root.json')).status, 404);
});

test('custody serve --workers 2: every worker serves the TUF metadata the leader wrote, as soon as a publish returns', { timeout: 180_000 }, async (t) => {
  const dir = tmpDir(t);
  const s = await serveChild(t, dir, ['--data', 'data', '--workers', '2', '--no-sample', '--tuf-timestamp-expiry', '2h']);
  const url = s.info.url;
  const banner = (s.info as unknown as { tuf: { url: string; timestamp: number } }).tuf;
  assert.deepEqual(banner, { url: `${url}/tuf`, timestamp: 1, snapshot: 1, targets: 1 });
  writeFileSync(join(dir, 'kernel.img'), Buffer.alloc(5000, 7));
  const pub = await cli(['publish', url, '--token-file', 'data/admin.token', '--channel', 'stable', '--arch', 'x86_64', 'kernel.img'], { cwd: dir });
  assert.equal(pub.code, 0, pub.stderr);
  const onDisk = readFileSync(join(dir, 'data', 'tuf', 'timestamp.json'));
  const ts = parseTufMetadata(onDisk, 'timestamp');
  assert.equal(ts.version, 2, 'the publish signed a new timestamp');
  const left = ts.expires.getTime() - Date.now();
  assert.ok(left > 0 && left <= 2 * H, `--tuf-timestamp-expiry 2h: ${left} ms left`);
  const workers = new Set<string>();
  for (let i = 0; i < 40 && workers.size < 2; i++) {
    const r = await fetch(`${url}/tuf/timestamp.json`, { headers: { connection: 'close' } });
    workers.add(r.headers.get('x-custody-worker') ?? '?');
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), onDisk, 'the timestamp the leader wrote last');
  }
  assert.deepEqual([...workers].sort(), ['1', '2']);
  const f = await cli(['fetch', '--tuf', `${url}/tuf`, '--channel', 'stable', '--arch', 'x86_64', '--root-fingerprint', s.info.trust_fingerprint, '--state', 'st', '--output', 'out'], { cwd: dir });
  assert.equal(f.code, 0, f.stderr);
  assert.deepEqual(readFileSync(join(dir, 'out', 'kernel.img')), Buffer.alloc(5000, 7));
  // And tuf-js through the cluster.
  const md = join(dir, 'md');
  const td = join(dir, 'td');
  for (const p of [md, td]) await import('node:fs/promises').then((fs) => fs.mkdir(p));
  writeFileSync(join(md, 'root.json'), readFileSync(join(dir, 'data', 'trust', '1.root.json')));
  const u = new Updater({ metadataBaseUrl: `${url}/tuf`, targetBaseUrl: `${url}/tuf/targets`, metadataDir: md, targetDir: td });
  const info = await u.getTargetInfo('stable/x86_64/kernel.img');
  assert.ok(info);
  assert.deepEqual(readFileSync(await u.downloadTarget(info)), Buffer.alloc(5000, 7));
});
