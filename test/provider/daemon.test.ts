/**
 * The provider daemon (`custody serve`) in-process on loopback with a real data directory: first start and restart,
 * publishing from the incoming directory, every signed manifest in the transparency log (checked by an independent
 * reader of the tiles), artifact serving (Range, ETag, HEAD), the admin API, rate limits, refresh before expiry, root
 * rotation and the audit log.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { verifyAuditLog } from '../../src/audit/audit-log.ts';
import { PrivateKey } from '../../src/crypto/index.ts';
import { writeKeyPair } from '../../src/keys/key-file.ts';
import { manifestLogEntry, verifyManifestInclusion } from '../../src/manifest/log.ts';
import { parseManifest } from '../../src/manifest/manifest.ts';
import { verifyManifest } from '../../src/manifest/verify.ts';
import { RESERVED_CHANNEL_NAMES } from '../../src/server/provider/releases.ts';
import { editRoot, formatRoot, parseRoot, signRoot, verifyPinnedRoot } from '../../src/trust/root.ts';
import { loadPrivateKey } from '../../src/keys/key-file.ts';
import { tmpDir } from '../support/tmp.ts';
import { auditLog, httpFetch, parseVkey } from '../log/independent.ts';
import { bearer, get, putIncoming, start } from './harness.ts';
import { tufKeyId } from '../../src/keys/key-id.ts';

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const KERNEL = Buffer.alloc(300_000, 7);
const INITRD = Buffer.from('initramfs contents\n');

test('first start makes keys, root and token (private modes); a restart reuses them', async (t) => {
  const data = join(tmpDir(t), 'data');
  const d1 = await start(t, data);
  assert.deepEqual(d1.identity.created, ['signer key', 'root key', 'trust root', 'snapshot key', 'timestamp key', 'token']);
  assert.equal(statSync(data).mode & 0o777, 0o700);
  for (const f of ['keys/signer.pem', 'keys/root.pem', 'keys/snapshot.pem', 'keys/timestamp.pem', 'admin.token', 'log/log.key', 'audit.jsonl']) {
    assert.equal(statSync(join(data, f)).mode & 0o777, 0o600, `${f} is 0600`);
  }
  assert.match(d1.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const root = await get(d1, '/trust/root.json');
  assert.equal(root.status, 200);
  assert.equal(`sha256:${sha256(root.body)}`, d1.identity.fingerprint, 'the printed fingerprint is the hash of the served root');
  assert.equal((await get(d1, '/trust/1.root.json')).body.toString(), root.body.toString());
  assert.equal((await get(d1, '/trust/2.root.json')).status, 404);
  const health = await get(d1, '/health');
  assert.equal(health.status, 200);
  assert.equal(health.json().status, 'healthy');
  const fp = d1.identity.fingerprint;
  const vkey = d1.vkey;
  await d1.close();

  const d2 = await start(t, data);
  assert.deepEqual(d2.identity.created, []);
  assert.equal(d2.identity.fingerprint, fp);
  assert.equal(d2.vkey, vkey, 'same log key and origin');
});

test('incoming files are signed, logged and served; the log holds every manifest signed; unchanged files are not re-signed', async (t) => {
  const data = join(tmpDir(t), 'data');
  const d = await start(t, data);
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: KERNEL, 'initramfs.img': INITRD, '.version': '1.2.3\n', '.hidden': 'x' });
  const r1 = await d.rescan();
  assert.equal(r1.released.length, 1);
  assert.deepEqual(r1.problems, []);

  const m = await get(d, '/stable/x86_64/manifest.json');
  assert.equal(m.status, 200);
  assert.match(m.headers.get('content-type')!, /^application\/json/);
  const proof = await get(d, '/stable/x86_64/manifest.json.tlog-proof');
  assert.equal(proof.status, 200);
  // A client's view: root pinned by fingerprint, manifest verified, inclusion verified under the log key.
  const root = verifyPinnedRoot(parseRoot((await get(d, '/trust/root.json')).body), { now: new Date() });
  const vm = verifyManifest(parseManifest(m.body), root, { now: new Date() });
  assert.equal(vm.manifest.version, '1.2.3');
  assert.deepEqual([...vm.manifest.artifacts.keys()], ['initramfs', 'kernel']);
  assert.equal(vm.manifest.artifacts.get('kernel')!.hash, `sha256:${sha256(KERNEL)}`);
  assert.equal(vm.manifest.artifacts.get('kernel')!.download_url, `/blobs/sha256/${sha256(KERNEL)}`);
  const logged = verifyManifestInclusion(vm, proof.body, d.vkey);

  // Unchanged: nothing new is signed.
  const r2 = await d.rescan();
  assert.equal(r2.released.length, 0);
  assert.deepEqual(r2.unchanged, ['stable/x86_64']);

  // Changed kernel: a new manifest with a higher sequence, logged after the first.
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: Buffer.concat([KERNEL, Buffer.from('v2')]) });
  const r3 = await d.rescan();
  assert.equal(r3.released.length, 1);
  const vm2 = r3.released[0]!.manifest;
  assert.ok(vm2.manifest.sequence > vm.manifest.sequence);
  assert.ok(r3.released[0]!.index > logged.index);

  // Independent audit of the log (only the verifier key and the C2SP specs): every manifest signed is an entry; the
  // other entries anchor audit-log heads.
  const { entries } = await auditLog(httpFetch(`${d.url}/log`), parseVkey(d.vkey));
  const kinds = entries.map((e) => e.toString().split('\n')[0]);
  assert.equal(kinds.filter((k) => k === 'custody.manifest/v1').length, 2);
  assert.ok(kinds.every((k) => k === 'custody.manifest/v1' || k === 'custody.audit/v1'), kinds.join(','));
  assert.deepEqual(entries[logged.index], Buffer.from(manifestLogEntry(vm.manifest)));
  assert.deepEqual(entries[r3.released[0]!.index], Buffer.from(manifestLogEntry(vm2.manifest)));

  // The newest audit anchor is served, and verifies under the log key.
  const served = await get(d, '/audit/anchor');
  assert.equal(served.status, 200);
  const { verifyAuditAnchorFile: verifyServed } = await import('../../src/audit/anchor.ts');
  assert.equal(verifyServed(served.body, d.vkey).seq >= 2, true);

  // The audit log chain verifies and records both signings with their digests and log indexes.
  await d.close();
  const audit = await verifyAuditLog(join(data, 'audit.jsonl'));
  assert.ok(audit.records >= 4);
  const lines = readFileSync(join(data, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const signed = lines.filter((l) => l.event === 'manifest.signed');
  assert.deepEqual(signed.map((l) => [l.digest, l.log_index]), [
    [vm.digest, logged.index],
    [vm2.digest, r3.released[0]!.index],
  ]);
  assert.equal(lines.at(-1)!.event, 'daemon.stopped');

  // The newest anchor names the last manifest.signed record; verifying the audit log against it works, and cutting
  // the file back before that record is detected.
  const anchorFile = join(data, 'audit.anchor');
  const { verifyAuditAnchorFile } = await import('../../src/audit/anchor.ts');
  const anchored = verifyAuditAnchorFile(readFileSync(anchorFile), d.vkey);
  assert.equal(anchored.head, signed.at(-1)!.hash);
  assert.equal((await verifyAuditLog(join(data, 'audit.jsonl'), { expectHead: anchored.head })).records, lines.length);
  const text = readFileSync(join(data, 'audit.jsonl'), 'utf8');
  const cut = text.split('\n').slice(0, anchored.seq).join('\n') + '\n';
  writeFileSync(join(data, 'audit.jsonl'), cut);
  await assert.rejects(verifyAuditLog(join(data, 'audit.jsonl'), { expectHead: anchored.head }), { code: 'ERR_AUDIT_HEAD_MISSING' });
  const { cli } = await import('../support/cli.ts');
  const v = await cli(['audit', 'verify', 'audit.jsonl', '--anchor', 'audit.anchor', '--log-key', d.vkey], { cwd: data });
  assert.equal(v.code, 1);
  assert.match(v.stderr, /ERR_AUDIT_HEAD_MISSING/);
  const wrongKey = await cli(['audit', 'verify', 'audit.jsonl', '--anchor', 'audit.anchor', '--log-key', d.vkey.replace(/\+[^+]+$/, '+AWn7n3zyIQHyNG+SrUS5iTDeBUSnVbI8QmzcHR1WQdhn')], { cwd: data });
  assert.equal(wrongKey.code, 1, wrongKey.stderr);
});

test('artifacts: Range, suffix range, 416, ETag/304, HEAD, and nothing outside the release is reachable', async (t) => {
  const d = await start(t, join(tmpDir(t), 'data'));
  putIncoming(d, 'stable', 'arm64', { vmlinuz: KERNEL });
  await d.rescan();
  const full = await get(d, '/stable/arm64/vmlinuz');
  assert.equal(full.status, 200);
  assert.ok(full.body.equals(KERNEL));
  assert.equal(full.headers.get('x-artifact-hash'), `sha256:${sha256(KERNEL)}`);
  assert.equal(full.headers.get('accept-ranges'), 'bytes');
  const part = await get(d, '/stable/arm64/vmlinuz', { headers: { range: 'bytes=100-199' } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get('content-range'), `bytes 100-199/${KERNEL.length}`);
  assert.ok(part.body.equals(KERNEL.subarray(100, 200)));
  const suffix = await get(d, `/blobs/sha256/${sha256(KERNEL)}`, { headers: { range: 'bytes=-10' } });
  assert.equal(suffix.status, 206);
  assert.ok(suffix.body.equals(KERNEL.subarray(KERNEL.length - 10)));
  assert.match(suffix.headers.get('cache-control')!, /immutable/);
  const beyond = await get(d, '/stable/arm64/vmlinuz', { headers: { range: `bytes=${KERNEL.length}-` } });
  assert.equal(beyond.status, 416);
  assert.equal(beyond.headers.get('content-range'), `bytes */${KERNEL.length}`);
  assert.equal(beyond.json().code, 'ERR_PROVIDER_RANGE');
  const multi = await get(d, '/stable/arm64/vmlinuz', { headers: { range: 'bytes=0-1,5-6' } });
  assert.equal(multi.status, 200, 'several ranges: the whole artifact (RFC 9110 lets a server ignore Range)');
  const etag = full.headers.get('etag')!;
  assert.equal((await get(d, '/stable/arm64/vmlinuz', { headers: { 'if-none-match': etag } })).status, 304);
  const head = await get(d, '/stable/arm64/vmlinuz', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), String(KERNEL.length));
  assert.equal(head.body.length, 0);
  const m = await get(d, '/stable/arm64/manifest.json');
  assert.equal((await get(d, '/stable/arm64/manifest.json', { headers: { 'if-none-match': m.headers.get('etag')! } })).status, 304);

  // Over 16 MiB a blob is streamed from disk rather than kept in memory: the same answers.
  const big = Buffer.alloc(17 * 1024 * 1024 + 5);
  for (let i = 0; i < big.length; i += 997) big[i] = i % 251;
  putIncoming(d, 'stable', 'arm64', { 'rootfs.img': big });
  await d.rescan();
  const bigFull = await get(d, '/stable/arm64/rootfs.img');
  assert.equal(bigFull.status, 200);
  assert.ok(bigFull.body.equals(big));
  const bigPart = await get(d, '/stable/arm64/rootfs.img', { headers: { range: `bytes=${big.length - 100}-` } });
  assert.equal(bigPart.status, 206);
  assert.ok(bigPart.body.equals(big.subarray(big.length - 100)));
  const bigHead = await get(d, `/blobs/sha256/${sha256(big)}`, { method: 'HEAD' });
  assert.equal(bigHead.headers.get('content-length'), String(big.length));
  assert.equal(bigHead.body.length, 0);
  assert.equal((await get(d, `/blobs/sha256/${sha256(big)}`, { headers: { range: `bytes=${big.length}-` } })).status, 416);
  // No descriptor leaks on the answers that send no body (HEAD, 304, 416) or a partial one.
  const fds = (): number => readdirSync('/proc/self/fd').length;
  const before = fds();
  for (let i = 0; i < 30; i++) {
    await get(d, `/blobs/sha256/${sha256(big)}`, { method: 'HEAD' });
    await get(d, `/blobs/sha256/${sha256(big)}`, { headers: { 'if-none-match': `"sha256:${sha256(big)}"` } });
    await get(d, `/blobs/sha256/${sha256(big)}`, { headers: { range: `bytes=${big.length}-` } });
    await get(d, `/blobs/sha256/${sha256(big)}`, { headers: { range: 'bytes=0-9' } });
  }
  assert.ok(fds() < before + 10, `open descriptors: ${before} before, ${fds()} after 120 requests`);
  // Clients that go away mid-download: the stream stops and its file handle is closed.
  for (let i = 0; i < 10; i++) {
    const ac = new AbortController();
    const r = await fetch(`${d.url}/blobs/sha256/${sha256(big)}`, { signal: ac.signal });
    const reader = r.body!.getReader();
    await reader.read();
    ac.abort();
    await reader.read().catch(() => undefined);
  }
  for (let i = 0; i < 100 && fds() >= before + 10; i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(fds() < before + 10, `open descriptors: ${before} before, ${fds()} after 10 abandoned downloads`);

  for (const path of [
    '/stable/arm64/..%2f..%2fkeys%2fsigner.pem',
    '/stable/arm64/%2e%2e',
    '/stable/arm64/signer.pem',
    '/stable/x86_64/vmlinuz',
    '/blobs/sha256/' + sha256(KERNEL).toUpperCase(),
    '/blobs/sha256/../../admin.token',
    '/trust/..%2fadmin.token',
    '/keys/signer.pem',
    '/admin.token',
  ]) {
    const r = await get(d, path);
    assert.equal(r.status, 404, path);
    assert.equal(r.json().code, 'ERR_PROVIDER_NOT_FOUND', path);
    assert.ok(!r.body.toString().includes('PRIVATE'), path);
  }
});

test('admin API: bearer token, uploads checked against their digest, releases of stored blobs only; the log is mounted under /log', async (t) => {
  const data = join(tmpDir(t), 'data');
  const d = await start(t, data);
  const hex = sha256(INITRD);
  const put = (h: string, body: Buffer, headers: Record<string, string>) =>
    get(d, `/admin/v1/blobs/sha256/${h}`, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream', ...headers } });

  const noAuth = await put(hex, INITRD, {});
  assert.equal(noAuth.status, 401);
  assert.equal(noAuth.json().code, 'ERR_PROVIDER_UNAUTHORIZED');
  const wrongAuth = await put(hex, INITRD, { authorization: 'Bearer not-the-token-at-all' });
  assert.equal(wrongAuth.status, 401);

  const wrongDigest = await put(sha256('other'), INITRD, bearer(d));
  assert.equal(wrongDigest.status, 422);
  assert.equal(wrongDigest.json().code, 'ERR_PROVIDER_BLOB_MISMATCH');
  assert.equal((await get(d, `/blobs/sha256/${sha256('other')}`)).status, 404, 'a mismatching upload stores nothing');
  assert.equal((await get(d, `/blobs/sha256/${hex}`)).status, 404);

  const ok = await put(hex, INITRD, bearer(d));
  assert.equal(ok.status, 201);
  assert.deepEqual(ok.json(), { ok: true, sha256: hex, size: INITRD.length, created: true });
  assert.equal((await put(hex, INITRD, bearer(d))).json().created, false);

  const release = (body: unknown, headers = bearer(d)) =>
    get(d, '/admin/v1/releases/testing/riscv64', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
  assert.equal((await release({ artifacts: { initramfs: { filename: 'initrd.img', sha256: hex } } }, {})).status, 401);
  const missing = await release({ artifacts: { kernel: { filename: 'vmlinuz', sha256: sha256('never uploaded') } } });
  assert.equal(missing.status, 409);
  assert.equal(missing.json().code, 'ERR_PROVIDER_BLOB_MISSING');
  const badName = await get(d, '/admin/v1/releases/Bad%20Channel/riscv64', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', ...bearer(d) } });
  assert.equal(badName.json().code, 'ERR_PROVIDER_CHANNEL_NAME');
  // The daemon's own first path segments are never channels (they would be published but never served).
  for (const reserved of RESERVED_CHANNEL_NAMES) {
    const r = await get(d, `/admin/v1/releases/${reserved}/riscv64`, { method: 'POST', body: JSON.stringify({ artifacts: { initramfs: { filename: 'initrd.img', sha256: hex } } }), headers: { 'content-type': 'application/json', ...bearer(d) } });
    assert.equal(r.status, 400, reserved);
    assert.equal(r.json().code, 'ERR_PROVIDER_CHANNEL_NAME', reserved);
  }
  const malformed = await release({ artifacts: [] });
  assert.equal(malformed.json().code, 'ERR_FORMAT_SCHEMA');
  const dup = await get(d, '/admin/v1/releases/testing/riscv64', { method: 'POST', body: '{"artifacts":{},"artifacts":{}}', headers: { 'content-type': 'application/json', ...bearer(d) } });
  assert.equal(dup.json().code, 'ERR_FORMAT_JSON_DUPLICATE_KEY');
  const badVersion = await release({ artifacts: { initramfs: { filename: 'initrd.img', sha256: hex } }, version: 'v 1\u0001' });
  assert.equal(badVersion.status, 400);
  assert.equal(badVersion.json().code, 'ERR_PROVIDER_VERSION_INVALID');
  const good = await release({ artifacts: { initramfs: { filename: 'initrd.img', sha256: hex } }, version: '2026.11' });
  assert.equal(good.status, 200);
  assert.equal(good.json().version, '2026.11');
  assert.equal((await get(d, '/testing/riscv64/initrd.img')).body.toString(), INITRD.toString());

  // The transparency log shares the daemon and its token.
  const add = await get(d, '/log/add', { method: 'POST', body: 'hello', headers: bearer(d) });
  assert.equal(add.status, 200);
  assert.equal(typeof add.json().index, 'number');
  const addNoAuth = await get(d, '/log/add', { method: 'POST', body: 'hello' });
  assert.equal(addNoAuth.json().code, 'ERR_LOG_UNAUTHORIZED');
  assert.equal((await get(d, '/log/checkpoint')).status, 200);

  await d.close();
  const refused = readFileSync(join(data, 'audit.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"admin.refused"'));
  assert.equal(refused.length, 3, 'three refused admin requests are audited');
  assert.ok(!readFileSync(join(data, 'audit.jsonl'), 'utf8').includes('not-the-token-at-all'), 'presented tokens are never recorded');
});

test('rate limits: per client address and global answer 429 with a code and Retry-After', async (t) => {
  // Both limiters count per second of Date.now(); the clock is frozen while the requests are sent so that a slow
  // (loaded) machine cannot spread them over two windows. Timers still run.
  const d = await start(t, join(tmpDir(t), 'a'), { rateLimitPerIp: 5 });
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
  const codes: number[] = [];
  for (let i = 0; i < 7; i++) codes.push((await get(d, '/health')).status);
  assert.deepEqual(codes, [200, 200, 200, 200, 200, 429, 429]);
  const limited = await get(d, '/');
  assert.equal(limited.status, 429);
  assert.equal(limited.json().code, 'ERR_PROVIDER_RATE_LIMITED');
  assert.ok(limited.headers.get('retry-after'));
  t.mock.timers.reset();

  const g = await start(t, join(tmpDir(t), 'b'), { rateLimitPerIp: 0, rateLimitGlobal: 3 });
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
  const gc: number[] = [];
  for (let i = 0; i < 6; i++) gc.push((await get(g, '/health')).status);
  assert.deepEqual(gc, [200, 200, 200, 429, 429, 429]);
  const r = await get(g, '/');
  assert.equal(r.status, 429);
  assert.equal(r.json().code, 'ERR_PROVIDER_RATE_LIMITED');
  t.mock.timers.reset();
});

test('manifests are re-signed before they expire, and at start when the stored one no longer verifies', async (t) => {
  let now = Date.parse('2026-11-22T00:00:00Z');
  const clock = () => new Date(now);
  const data = join(tmpDir(t), 'data');
  const d = await start(t, data, { now: clock, validityMs: 3 * 86_400_000, refreshIntervalMs: 3_600_000 });
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: KERNEL });
  const first = (await d.rescan()).released[0]!;
  now += 86_400_000; // 2 days left of 3: more than a third, nothing to do
  assert.deepEqual(await d.releases.refreshExpiring(), []);
  now += 86_400_000 + 3_600_000; // under a third left
  const refreshed = await d.releases.refreshExpiring();
  assert.equal(refreshed.length, 1);
  assert.ok(refreshed[0]!.manifest.manifest.sequence > first.manifest.manifest.sequence);
  assert.deepEqual([...refreshed[0]!.manifest.manifest.artifacts.values()].map((a) => a.hash), [`sha256:${sha256(KERNEL)}`]);
  await d.close();

  // Stopped for a week: the stored manifest expired; the next start re-signs it before serving.
  now += 7 * 86_400_000;
  const d2 = await start(t, data, { now: clock, validityMs: 3 * 86_400_000 });
  const cur = d2.releases.get('stable', 'x86_64')!;
  assert.ok(cur.manifest.manifest.expiresAt.getTime() > now);
  assert.ok(cur.manifest.manifest.sequence > refreshed[0]!.manifest.manifest.sequence);
});

test('root rotation: a new signer key in root v2; the daemon re-signs, serves the chain, and old clients follow it', async (t) => {
  const data = join(tmpDir(t), 'data');
  const d = await start(t, data);
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: KERNEL });
  await d.rescan();
  const v1 = verifyPinnedRoot(parseRoot((await get(d, '/trust/root.json')).body), { now: new Date() });
  await d.close();

  // The operator rotates the signer: root v2 lists a new targets key, signed by the (unchanged) root key.
  const rootKey = await loadPrivateKey(join(data, 'keys', 'root.pem'));
  const newSigner = PrivateKey.generate();
  const v2 = signRoot(
    editRoot(v1, (s) => {
      const keys = s.keys as Record<string, unknown>;
      keys[tufKeyId(newSigner.publicKey)] = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: newSigner.publicKey.hex } };
      (s.roles as Record<string, { keyids: string[] }>).targets!.keyids = [tufKeyId(newSigner.publicKey)];
    }),
    rootKey,
  );
  writeFileSync(join(data, 'trust', '2.root.json'), formatRoot(v2));
  writeFileSync(join(data, 'trust', 'root.json'), formatRoot(v2));
  await writeKeyPair(join(data, 'keys', 'signer.pem'), newSigner, { force: true });

  const d2 = await start(t, data);
  assert.equal(d2.identity.root.version, 2);
  const cur = d2.releases.get('stable', 'x86_64')!;
  assert.deepEqual(cur.manifest.signers, [tufKeyId(newSigner.publicKey)], 're-signed by the new key at start');
  assert.equal((await get(d2, '/trust/2.root.json')).status, 200);
  // A client that pinned v1 accepts v2 (signed by the v1 root key) and then the new manifest.
  const { updateRoot } = await import('../../src/trust/root.ts');
  const followed = updateRoot(v1, parseRoot((await get(d2, '/trust/2.root.json')).body), new Date());
  verifyManifest(parseManifest((await get(d2, '/stable/x86_64/manifest.json')).body), followed, { now: new Date() });
});

test('the daemon refuses to start with a key its trust root does not authorize', async (t) => {
  const data = join(tmpDir(t), 'data');
  const d = await start(t, data);
  await d.close();
  await writeKeyPair(join(data, 'keys', 'signer.pem'), PrivateKey.generate(), { force: true });
  const { assertRejectsCode } = await import('../support/assert.ts');
  await assertRejectsCode(start(t, data), 'ERR_PROVIDER_SIGNER_UNAUTHORIZED');
});
