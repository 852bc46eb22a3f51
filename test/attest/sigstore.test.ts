/**
 * Sigstore bundles v0.3 end to end: a real `custody log serve` on loopback, `custody sign-blob --bundle --log`,
 * `custody trust export --sigstore`, then the bundle verified OFFLINE by @sigstore/verify 3.1 (its public API:
 * Verifier, toTrustMaterial, toSignedEntity; bundleFromJSON from @sigstore/bundle; the TrustedRoot and key JSON read
 * with @sigstore/protobuf-specs as sigstore-js reads them) and by `custody verify-blob`, and both refusing it after
 * one byte changes in the artifact, the envelope payload, the envelope signature or an inclusion-proof hash.
 * Then a cosign-style message-signature bundle (ECDSA P-256, as `cosign sign-blob --key` writes it), and the
 * malformed-bundle table.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { PublicKey as SigstorePublicKey, TrustedRoot } from '@sigstore/protobuf-specs';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
import {
  BLOB_PREDICATE_TYPE,
  attestationFromVerified,
  blobStatementPayload,
  dsseBody,
  dsseBundle,
  ed25519SpkiDer,
  formatBundle,
  keysFromPublicKeys,
  noteLogId,
  parseBundle,
  tlogEntryFromLog,
  verifyBundle,
  withTlogEntry,
} from '../../src/attest/index.ts';
import { P256PublicKey, sha256 } from '../../src/crypto/index.ts';
import { newNoteSigner, newNoteVerifier, signNote } from '../../src/note/note.ts';
import { formatCheckpoint } from '../../src/note/checkpoint.ts';
import { hashLeaf } from '../../src/tlog/merkle.ts';
import { assertCode } from '../support/assert.ts';
import { cli } from '../support/cli.ts';
import { key } from '../support/fixtures.ts';
import { tmpDir } from '../support/tmp.ts';
import { addEntry, startLog, writeTokenFile } from '../log/harness.ts';

type Json = Record<string, unknown>;
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const readJson = (p: string): Json => JSON.parse(readFileSync(p, 'utf8')) as Json;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** flipB64 changes one byte (at `at`, default the middle) of a base64 value. */
function flipB64(s: string, at?: number): string {
  const b = Buffer.from(s, 'base64');
  const i = at ?? Math.floor(b.length / 2);
  b[i] = b[i]! ^ 0x01;
  return b.toString('base64');
}

/** sigstoreVerify runs @sigstore/verify 3.1 offline over our trusted root and keys file. */
function sigstoreVerify(bundle: Json, trustedRoot: Json, keysFile: { keys: Record<string, unknown> }, artifact?: Buffer): void {
  const keys = Object.fromEntries(Object.entries(keysFile.keys).map(([hint, k]) => [hint, SigstorePublicKey.fromJSON(k)]));
  const material = toTrustMaterial(TrustedRoot.fromJSON(trustedRoot), keys);
  // Our log signs no entry timestamps (no inclusion promise; integratedTime 0) and there is no timestamp authority:
  // the bundle's time is not attested, so no timestamp is required. One verified tlog entry is (the default).
  new Verifier(material, { timestampThreshold: 0 }).verify(toSignedEntity(bundleFromJSON(bundle), artifact));
}

function sigstoreRefuses(fn: () => void, code: string): void {
  assert.throws(fn, (e: Error & { code?: string }) => {
    assert.equal(e.code, code, `@sigstore/verify: ${e.message}`);
    return true;
  });
}

test('sign-blob --bundle with our log: @sigstore/verify and verify-blob accept it, and refuse one changed byte', async (t) => {
  const dir = tmpDir(t);
  const tokenFile = writeTokenFile(dir);
  const log = await startLog(join(dir, 'log-data'), tokenFile);
  t.after(() => log.proc.kill('SIGKILL'));
  // A few entries first, so the bundle's inclusion proof has hashes to tamper with.
  for (let i = 0; i < 5; i++) assert.ok(await addEntry(log.url, Buffer.from(`earlier entry ${i}`)));

  const run = async (...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> => cli(argv, { cwd: dir });
  const ok = async (...argv: string[]): Promise<string> => {
    const r = await run(...argv);
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await ok('keygen', '--output', 'k/a.pem');
  await ok('trust', 'init', '--key', 'k/a.pub', '--threshold', '1', '--sign', 'k/a.pem', '--output', 'root.json');
  writeFileSync(join(dir, 'app.tar.gz'), 'the release artifact\n'.repeat(100));
  const digest = hex(sha256(readFileSync(join(dir, 'app.tar.gz'))));

  const signed = await ok('sign-blob', 'app.tar.gz', '--key', 'k/a.pem', '--bundle', 'app.sigstore.json', '--log', log.url, '--log-key', log.vkey, '--log-token-file', 'token');
  assert.match(signed, new RegExp(`^signed sha256:${digest} by [0-9a-f]{64} → .*app\\.sigstore\\.json\\nlogged: index 5 in a tree of \\d+\\n$`));
  const bundle = readJson(join(dir, 'app.sigstore.json'));
  assert.equal(bundle['mediaType'], 'application/vnd.dev.sigstore.bundle.v0.3+json');
  const vm = bundle['verificationMaterial'] as { publicKey: { hint: string }; tlogEntries: Array<Json & { inclusionProof: { hashes: string[]; checkpoint: { envelope: string } } }> };
  const entry = vm.tlogEntries[0]!;
  assert.deepEqual(entry['kindVersion'], { kind: 'dsse', version: '0.0.1' });
  assert.equal(entry['logIndex'], '5');
  assert.equal(entry['integratedTime'], '0');
  assert.match(entry.inclusionProof.checkpoint.envelope, /^example\.test\/log\n\d+\n[A-Za-z0-9+/]{43}=\n\n\u2014 example\.test\/log /);
  assert.ok(entry.inclusionProof.hashes.length >= 1);
  const body = JSON.parse(Buffer.from(entry['canonicalizedBody'] as string, 'base64').toString('utf8')) as { kind: string; spec: { payloadHash: { value: string } } };
  assert.equal(body.kind, 'dsse');
  const env = bundle['dsseEnvelope'] as { payload: string; payloadType: string; signatures: Array<{ sig: string; keyid: string }> };
  assert.equal(body.spec.payloadHash.value, hex(sha256(Buffer.from(env.payload, 'base64'))));
  assert.equal(env.payloadType, 'application/vnd.in-toto+json');
  const statement = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')) as { predicateType: string; subject: Array<{ name: string; digest: { sha256: string } }> };
  assert.deepEqual(statement.subject, [{ name: 'app.tar.gz', digest: { sha256: digest } }]);
  assert.equal(statement.predicateType, BLOB_PREDICATE_TYPE);

  // trust export: the TrustedRoot naming our log, and the signing keys beside it.
  const exported = await ok('trust', 'export', '--sigstore', 'trusted_root.json', '--trust', 'root.json', '--log-key', log.vkey);
  assert.match(exported, /^trusted root: .*trusted_root\.json \(1 log: example\.test\/log\)\nsigning keys: .*trusted_root\.keys\.json \(1 key, threshold 1\)\n$/);
  const trustedRoot = readJson(join(dir, 'trusted_root.json'));
  const keysFile = readJson(join(dir, 'trusted_root.keys.json')) as { threshold: number; keys: Record<string, unknown> };
  assert.equal(trustedRoot['mediaType'], 'application/vnd.dev.sigstore.trustedroot+json;version=0.1');
  const tlog = (trustedRoot['tlogs'] as Array<{ baseUrl: string; logId: { keyId: string }; publicKey: { keyDetails: string } }>)[0]!;
  assert.equal(tlog.baseUrl, 'https://example.test/log');
  assert.equal(tlog.publicKey.keyDetails, 'PKIX_ED25519');
  assert.equal(tlog.logId.keyId, entry['logId'] && (entry['logId'] as { keyId: string }).keyId, 'the entry names the exported log');
  assert.deepEqual(Object.keys(keysFile.keys), [vm.publicKey.hint], 'the bundle hint finds the exported key');

  // @sigstore/verify 3.1, offline: signature, tlog body, checkpoint signature under the log key, inclusion proof.
  sigstoreVerify(bundle, trustedRoot, keysFile);
  // It finds the log by the checkpoint's key hint AND name (baseUrl), and verifies with the exported key: another
  // baseUrl or another key and the checkpoint is not the trusted log's; without the signing key there is no signer.
  type Tlogs = { tlogs: Array<{ baseUrl: string; publicKey: { rawBytes: string } }> };
  const elsewhere = clone(trustedRoot) as unknown as Tlogs;
  elsewhere.tlogs[0]!.baseUrl = 'https://elsewhere.test/log';
  sigstoreRefuses(() => sigstoreVerify(bundle, elsewhere, keysFile), 'TLOG_INCLUSION_PROOF_ERROR');
  const otherLogKey = clone(trustedRoot) as unknown as Tlogs;
  otherLogKey.tlogs[0]!.publicKey.rawBytes = Buffer.from(ed25519SpkiDer(key('not-the-log').publicKey)).toString('base64');
  sigstoreRefuses(() => sigstoreVerify(bundle, otherLogKey, keysFile), 'TLOG_INCLUSION_PROOF_ERROR');
  sigstoreRefuses(() => sigstoreVerify(bundle, trustedRoot, { keys: {} }), 'PUBLIC_KEY_ERROR');
  // Our verifier: the same bundle, with the root's keys and the log key (given directly, or from the trusted root).
  const vb = ['verify-blob', 'app.tar.gz', '--bundle', 'app.sigstore.json', '--trust', 'root.json'];
  const verified = await ok(...vb, '--log-key', log.vkey);
  assert.match(verified, new RegExp(`^verified sha256:${digest} signed by [0-9a-f]{64}\\nlogged: index 5 in example\\.test/log \\(tree size \\d+\\)\\n$`));
  await ok('verify-blob', 'app.tar.gz', '--bundle', 'app.sigstore.json', '--key', 'k/a.pub', '--trusted-root', 'trusted_root.json');
  const j = JSON.parse(await ok(...vb, '--log-key', log.vkey, '--json')) as { inclusion: { origin: string; index: number } };
  assert.deepEqual([j.inclusion.origin, j.inclusion.index], ['example.test/log', 5]);
  // Without naming the log, the entry's inclusion cannot be checked: refused, not silently accepted.
  const untrusted = await run(...vb);
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.stderr, /\[ERR_BUNDLE_TLOG_UNTRUSTED\]/);

  const refuse = async (name: string, mutate: (b: Json) => void, ours: string, theirs: string, file = 'app.tar.gz'): Promise<void> => {
    const b = clone(bundle);
    mutate(b);
    writeFileSync(join(dir, `${name}.sigstore.json`), JSON.stringify(b));
    sigstoreRefuses(() => sigstoreVerify(b, trustedRoot, keysFile), theirs);
    const r = await run('verify-blob', file, '--bundle', `${name}.sigstore.json`, '--trust', 'root.json', '--log-key', log.vkey);
    assert.equal(r.code, 1, `${name}: ${r.stdout}`);
    assert.match(r.stderr, new RegExp(`\\[${ours}\\]`), name);
  };
  type Env = { dsseEnvelope: { payload: string; signatures: Array<{ sig: string }> } };
  type Proof = { verificationMaterial: { tlogEntries: Array<{ inclusionProof: { hashes: string[]; treeSize: string } }> } };
  // (b) one byte of the envelope payload: the log body's payloadHash no longer matches (sigstore), the signature
  // no longer verifies (ours, which checks the signature first).
  await refuse('payload', (b) => ((b as Env).dsseEnvelope.payload = flipB64((b as Env).dsseEnvelope.payload)), 'ERR_DSSE_THRESHOLD_UNMET', 'TLOG_BODY_ERROR');
  // (b) one byte of the signature: the log body names the original signature.
  await refuse('sig', (b) => ((b as Env).dsseEnvelope.signatures[0]!.sig = flipB64((b as Env).dsseEnvelope.signatures[0]!.sig)), 'ERR_DSSE_THRESHOLD_UNMET', 'TLOG_BODY_ERROR');
  // (c) one byte of an inclusion-proof hash: the computed root is not the one the log signed.
  await refuse(
    'proof',
    (b) => {
      const p = (b as Proof).verificationMaterial.tlogEntries[0]!.inclusionProof;
      p.hashes[0] = flipB64(p.hashes[0]!);
    },
    'ERR_TLOG_INCLUSION_INVALID',
    'TLOG_INCLUSION_PROOF_ERROR',
  );
  // A proof for another tree size than the checkpoint's.
  const wrongSize = clone(bundle) as unknown as Proof;
  wrongSize.verificationMaterial.tlogEntries[0]!.inclusionProof.treeSize = String(Number(wrongSize.verificationMaterial.tlogEntries[0]!.inclusionProof.treeSize) + 1);
  writeFileSync(join(dir, 'size.sigstore.json'), JSON.stringify(wrongSize));
  const rs = await run('verify-blob', 'app.tar.gz', '--bundle', 'size.sigstore.json', '--trust', 'root.json', '--log-key', log.vkey);
  assert.match(rs.stderr, /\[ERR_BUNDLE_INCLUSION_MISMATCH\]/);

  // (a) one byte of the artifact. @sigstore/verify checks a DSSE bundle's envelope, not the artifact (it never reads
  // it); the artifact is bound by the in-toto subject of the payload it verified, which no longer matches.
  const changed = Buffer.from(readFileSync(join(dir, 'app.tar.gz')));
  changed[7] = changed[7]! ^ 0x01;
  writeFileSync(join(dir, 'changed.tar.gz'), changed);
  sigstoreVerify(bundle, trustedRoot, keysFile, changed);
  assert.notEqual(statement.subject[0]!.digest.sha256, hex(sha256(changed)), 'the verified subject is not the changed file');
  const ra = await run('verify-blob', 'changed.tar.gz', '--bundle', 'app.sigstore.json', '--trust', 'root.json', '--log-key', log.vkey);
  assert.equal(ra.code, 1);
  assert.match(ra.stderr, /\[ERR_ATTEST_SUBJECT_MISMATCH\]/);

  // custody attest … --bundle: the envelope of the .intoto.jsonl, as a bundle logged in our log.
  await ok('keygen', '--output', 'k/b.pem');
  const prov = [
    'attest', 'provenance', '--subject', 'app.tar.gz', '--builder-id', 'https://ci.example.org/runners/ubi9',
    '--build-type', 'https://custody.dev/build-types/make/v1', '--key', 'k/a.pem', '--output', 'app.intoto.jsonl',
  ];
  const attested = await ok(...prov, '--bundle', 'prov.sigstore.json', '--log', log.url, '--log-key', log.vkey, '--log-token-file', 'token');
  assert.match(attested, /\nbundle: .*prov\.sigstore\.json \(logged at index \d+\)\n$/);
  const provBundle = readJson(join(dir, 'prov.sigstore.json'));
  const line = JSON.parse(readFileSync(join(dir, 'app.intoto.jsonl'), 'utf8').trim()) as Json;
  assert.deepEqual(provBundle['dsseEnvelope'], line, 'the bundle carries the very envelope of the .intoto.jsonl');
  sigstoreVerify(provBundle, trustedRoot, keysFile);
  const pvArgs = ['verify-blob', 'app.tar.gz', '--bundle', 'prov.sigstore.json', '--trust', 'root.json', '--trusted-root', 'trusted_root.json'];
  const pv = JSON.parse(await ok(...pvArgs, '--type', 'https://slsa.dev/provenance/v1', '--json')) as { predicate_type: string };
  assert.equal(pv.predicate_type, 'https://slsa.dev/provenance/v1');
  // verify-blob means "signed this file": a provenance statement is not that unless --type says it is accepted.
  const notBlob = await run(...pvArgs);
  assert.equal(notBlob.code, 1);
  assert.match(
    notBlob.stderr,
    /the bundle's statement has predicate type "https:\/\/slsa\.dev\/provenance\/v1", expected "urn:custody:predicate:signed-blob:v1" \[ERR_BUNDLE_PREDICATE_TYPE\]/,
  );
  assert.equal(notBlob.stdout, '');
  // Nor a signed review that says "not approved": same key, same subject, another claim.
  writeFileSync(join(dir, 'review.json'), '{"approved": false}');
  await ok(
    'attest', 'predicate', '--predicate-type', 'https://example.org/review/v1', '--predicate', 'review.json', '--subject', 'app.tar.gz',
    '--key', 'k/a.pem', '--output', 'review.intoto.jsonl', '--bundle', 'review.sigstore.json',
  );
  const review = await run('verify-blob', 'app.tar.gz', '--bundle', 'review.sigstore.json', '--key', 'k/a.pub');
  assert.equal(review.code, 1);
  assert.match(review.stderr, /predicate type "https:\/\/example\.org\/review\/v1", expected "urn:custody:predicate:signed-blob:v1" \[ERR_BUNDLE_PREDICATE_TYPE\]/);
  // --type replaces the default: the signed-blob bundle is then refused, unless its type is named too.
  const slsaOnly = await run(...vb, '--log-key', log.vkey, '--type', 'https://slsa.dev/provenance/v1');
  assert.match(slsaOnly.stderr, /\[ERR_BUNDLE_PREDICATE_TYPE\]/);
  await ok(...vb, '--log-key', log.vkey, '--type', 'https://slsa.dev/provenance/v1', '--type', BLOB_PREDICATE_TYPE);
  // One signature per bundle; log flags belong to --bundle; nothing written on refusal.
  const two = await run(...prov.slice(0, -2), '--key', 'k/b.pem', '--output', 'two.intoto.jsonl', '--bundle', 'two.sigstore.json');
  assert.equal(two.code, 2);
  assert.match(two.stderr, /--bundle takes exactly one --key: a Sigstore bundle carries one signature, got 2 \[ERR_USAGE_ARGUMENT\]/);
  const stray = await run(...prov.slice(0, -2), '--output', 'stray.intoto.jsonl', '--log', log.url);
  assert.equal(stray.code, 2);
  assert.match(stray.stderr, /--log, --log-key and --log-token-file go with --bundle/);
  const exists = await run(...prov, '--bundle', 'again.sigstore.json', '--log', log.url, '--log-key', log.vkey, '--log-token-file', 'token');
  assert.equal(exists.code, 3);
  assert.match(exists.stderr, /\[ERR_IO_EXISTS\]/);
  for (const f of ['two.intoto.jsonl', 'two.sigstore.json', 'stray.intoto.jsonl', 'again.sigstore.json']) assert.equal(existsSync(join(dir, f)), false, f);
  // An existing bundle is replaced only with --force, as the .intoto.jsonl is.
  const bundleBefore = readFileSync(join(dir, 'prov.sigstore.json'));
  const bundleExists = await run(...prov.slice(0, -2), '--output', 'fresh.intoto.jsonl', '--bundle', 'prov.sigstore.json');
  assert.equal(bundleExists.code, 3, bundleExists.stderr);
  assert.match(bundleExists.stderr, /refusing to overwrite .*prov\.sigstore\.json \[ERR_IO_EXISTS\]/);
  assert.ok(readFileSync(join(dir, 'prov.sigstore.json')).equals(bundleBefore), 'the bundle is intact');
  assert.equal(existsSync(join(dir, 'fresh.intoto.jsonl')), false);
  await ok(...prov.slice(0, -2), '--output', 'fresh.intoto.jsonl', '--bundle', 'prov.sigstore.json', '--force');
  assert.notDeepEqual(readFileSync(join(dir, 'prov.sigstore.json')), bundleBefore, '--force replaces it');

  // The wrong log key (another key under the same name): the checkpoint is not its.
  const other = newNoteVerifier('example.test/log', key('not-the-log').publicKey);
  const { formatVerifierKey } = await import('../../src/note/note.ts');
  const rw = await run(...vb, '--log-key', formatVerifierKey(other.name, other.publicKey));
  assert.equal(rw.code, 1);
  assert.match(rw.stderr, /\[ERR_BUNDLE_TLOG_UNTRUSTED\]/, 'a different key is a different log id');

  // sign-blob refuses a log answer it cannot verify (wrong --log-key), and writes nothing.
  const bad = await run('sign-blob', 'app.tar.gz', '--key', 'k/a.pem', '--bundle', 'x.sigstore.json', '--log', log.url, '--log-key', formatVerifierKey(other.name, other.publicKey), '--log-token-file', 'token');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /\[ERR_NOTE_UNKNOWN_KEY\]/);
  assert.equal(existsSync(join(dir, 'x.sigstore.json')), false);
  // Without --log: a bundle without entries, which verifies and says it is not logged.
  await ok('sign-blob', 'app.tar.gz', '--key', 'k/a.pem', '--bundle', 'nolog.sigstore.json');
  assert.match(await ok('verify-blob', 'app.tar.gz', '--bundle', 'nolog.sigstore.json', '--key', 'k/a.pub'), /\nnot logged: the bundle carries no entry of a trusted log\n$/);
});

test('trust export --sigstore refuses a threshold above 1 (Sigstore verifiers would take one key) unless --allow-single-signer', async (t) => {
  const dir = tmpDir(t);
  const run = async (...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> => cli(argv, { cwd: dir });
  for (const n of ['a', 'b', 'c']) assert.equal((await run('keygen', '--output', `k/${n}.pem`)).code, 0);
  const init = await run('trust', 'init', '--threshold', '2', '--key', 'k/a.pub', '--key', 'k/b.pub', '--key', 'k/c.pub', '--sign', 'k/a.pem', '--sign', 'k/b.pem', '--output', 'root.json');
  assert.equal(init.code, 0, init.stderr);
  const { formatVerifierKey } = await import('../../src/note/note.ts');
  const vkey = formatVerifierKey('example.test/log', key('the-log').publicKey);
  const exp = ['trust', 'export', '--sigstore', 'trusted_root.json', '--trust', 'root.json', '--log-key', vkey];
  const refused = await run(...exp);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /the targets role needs 2 signatures, but Sigstore verifiers accept a bundle signed by any 1 of the 3 exported keys \[ERR_BUNDLE_THRESHOLD_WEAKENED\]/);
  for (const f of ['trusted_root.json', 'trusted_root.keys.json']) assert.equal(existsSync(join(dir, f)), false, f);
  const allowed = await run(...exp, '--allow-single-signer');
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(allowed.stderr, /^custody: warning: --allow-single-signer: Sigstore verifiers will accept a bundle signed by any 1 of these 3 keys \(the root's threshold is 2\)\n$/);
  assert.match(allowed.stdout, /\nsigning keys: .*trusted_root\.keys\.json \(3 keys, threshold 2\)\n$/);
  assert.equal(Object.keys((readJson(join(dir, 'trusted_root.keys.json')) as { keys: Json }).keys).length, 3);
});

/** cosignStyle builds a message-signature bundle as `cosign sign-blob --key cosign.key --bundle B` writes it. */
function cosignStyle(blob: Buffer): { bundle: Json; pubPem: string; spkiDer: Buffer; sig: Buffer; privateKey: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
  const sig = nodeSign('sha256', blob, privateKey); // ASN.1 DER, as cosign writes
  const bundle: Json = {
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    // cosign's hint for a key: base64 of SHA-256 over the DER public key.
    verificationMaterial: { publicKey: { hint: createHash('sha256').update(spkiDer).digest('base64') }, tlogEntries: [] },
    messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(blob).digest('base64') }, signature: sig.toString('base64') },
  };
  return { bundle, pubPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), spkiDer, sig, privateKey };
}

/** rekorEntry is a hashedrekord v0.0.1 entry in a log we do not trust (a stand-in for Rekor's shape). */
function rekorEntry(blob: Buffer, sig: Buffer, pubPem: string): Json {
  const body = {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(blob).digest('hex') } },
      signature: { content: sig.toString('base64'), publicKey: { content: Buffer.from(pubPem).toString('base64') } },
    },
  };
  const canonical = Buffer.from(JSON.stringify(body));
  const rekorKey = key('a-rekor-stand-in');
  const signer = newNoteSigner('rekor.example', rekorKey);
  const cp = signNote(formatCheckpoint({ origin: 'rekor.example - 42', size: 1, rootHash: hashLeaf(canonical) }), [signer]);
  return {
    logIndex: '0',
    logId: { keyId: Buffer.from(noteLogId(newNoteVerifier('rekor.example', rekorKey.publicKey))).toString('base64') },
    kindVersion: { kind: 'hashedrekord', version: '0.0.1' },
    integratedTime: '1764547200',
    inclusionPromise: { signedEntryTimestamp: Buffer.alloc(70, 1).toString('base64') },
    inclusionProof: { logIndex: '0', rootHash: Buffer.from(hashLeaf(canonical)).toString('base64'), treeSize: '1', hashes: [], checkpoint: { envelope: cp } },
    canonicalizedBody: canonical.toString('base64'),
  };
}

test('cosign-style ECDSA P-256 message-signature bundle: verify-blob --key cosign.pub; wrong key, changed blob, untrusted log refused', async (t) => {
  const dir = tmpDir(t);
  const blob = Buffer.from('#!/bin/sh\necho hello from a cosign-signed script\n');
  writeFileSync(join(dir, 'script.sh'), blob);
  const { bundle, pubPem, spkiDer, sig, privateKey } = cosignStyle(blob);
  writeFileSync(join(dir, 'cosign.pub'), pubPem);
  writeFileSync(join(dir, 'script.sh.sigstore.json'), JSON.stringify(bundle));
  // The shape is what @sigstore/verify accepts as a message-signature bundle (no tlog, no timestamps required).
  const keys = { [(bundle['verificationMaterial'] as { publicKey: { hint: string } }).publicKey.hint]: SigstorePublicKey.fromJSON({ rawBytes: spkiDer.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256' }) };
  const material = toTrustMaterial(TrustedRoot.fromJSON({ mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1', tlogs: [] }), keys);
  new Verifier(material, { tlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundleFromJSON(bundle), blob));

  const run = (...argv: string[]): ReturnType<typeof cli> => cli(argv, { cwd: dir });
  const okr = await run('verify-blob', 'script.sh', '--bundle', 'script.sh.sigstore.json', '--key', 'cosign.pub');
  assert.equal(okr.code, 0, okr.stderr);
  assert.match(okr.stdout, /^verified sha256:[0-9a-f]{64} signed by ECDSA P-256 key sha256:[0-9a-f]{64}\nnot logged/);

  // A wrong key: another P-256 key.
  writeFileSync(join(dir, 'other.pub'), cosignStyle(blob).pubPem);
  const wrong = await run('verify-blob', 'script.sh', '--bundle', 'script.sh.sigstore.json', '--key', 'other.pub');
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /\[ERR_BUNDLE_SIGNATURE_INVALID\]/);
  // A changed blob: its digest is not the bundle's.
  writeFileSync(join(dir, 'changed.sh'), Buffer.concat([blob, Buffer.from(' ')]));
  const changed = await run('verify-blob', 'changed.sh', '--bundle', 'script.sh.sigstore.json', '--key', 'cosign.pub');
  assert.equal(changed.code, 1);
  assert.match(changed.stderr, /\[ERR_BUNDLE_DIGEST_MISMATCH\]/);
  // A changed signature (digest still right): no trusted key verifies it.
  const badSig = clone(bundle) as { messageSignature: { signature: string } };
  badSig.messageSignature.signature = flipB64(badSig.messageSignature.signature, 10);
  writeFileSync(join(dir, 'badsig.json'), JSON.stringify(badSig));
  const bs = await run('verify-blob', 'script.sh', '--bundle', 'badsig.json', '--key', 'cosign.pub');
  assert.match(bs.stderr, /\[ERR_BUNDLE_SIGNATURE_INVALID\]/);

  // With a Rekor-style entry of a log we do not trust: refused, unless --insecure-ignore-tlog (then the body is still
  // compared with the content).
  const logged = clone(bundle) as { verificationMaterial: { tlogEntries: Json[] } };
  logged.verificationMaterial.tlogEntries = [rekorEntry(blob, sig, pubPem)];
  writeFileSync(join(dir, 'logged.json'), JSON.stringify(logged));
  const un = await run('verify-blob', 'script.sh', '--bundle', 'logged.json', '--key', 'cosign.pub');
  assert.equal(un.code, 1);
  assert.match(un.stderr, /^custody: error: the bundle's log entry 0 is in a log Custody does not trust \(log id [0-9a-f]{16}…\), so its inclusion cannot be checked \[ERR_BUNDLE_TLOG_UNTRUSTED\]\n/);
  const ig = await run('verify-blob', 'script.sh', '--bundle', 'logged.json', '--key', 'cosign.pub', '--insecure-ignore-tlog');
  assert.equal(ig.code, 0, ig.stderr);
  assert.match(ig.stderr, /warning: 1 log entry of untrusted logs not checked \(--insecure-ignore-tlog\)/);
  const forged = clone(logged);
  forged.verificationMaterial.tlogEntries = [rekorEntry(Buffer.from('other bytes'), sig, pubPem)];
  writeFileSync(join(dir, 'forged.json'), JSON.stringify(forged));
  const fg = await run('verify-blob', 'script.sh', '--bundle', 'forged.json', '--key', 'cosign.pub', '--insecure-ignore-tlog');
  assert.equal(fg.code, 1);
  assert.match(fg.stderr, /\[ERR_BUNDLE_TLOG_BODY_MISMATCH\]/);
  // cosign attest-blob --key: a DSSE envelope signed with the same P-256 key (PAE, DER signature).
  const statement = Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'script.sh', digest: { sha256: createHash('sha256').update(blob).digest('hex') } }],
      predicateType: 'https://cosign.sigstore.dev/attestation/v1',
      predicate: { Data: 'hello', Timestamp: '2026-12-01T00:00:00Z' },
    }),
  );
  const paeBytes = Buffer.concat([Buffer.from(`DSSEv1 28 application/vnd.in-toto+json ${statement.length} `), statement]);
  const dsse: Json = {
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: bundle['verificationMaterial'],
    dsseEnvelope: { payload: statement.toString('base64'), payloadType: 'application/vnd.in-toto+json', signatures: [{ sig: nodeSign('sha256', paeBytes, privateKey).toString('base64'), keyid: '' }] },
  };
  new Verifier(material, { tlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundleFromJSON(dsse)));
  writeFileSync(join(dir, 'attest.json'), JSON.stringify(dsse));
  const da = await run('verify-blob', 'script.sh', '--bundle', 'attest.json', '--key', 'cosign.pub', '--type', 'https://cosign.sigstore.dev/attestation/v1', '--json');
  assert.equal(da.code, 0, da.stderr);
  assert.equal((JSON.parse(da.stdout) as { predicate_type: string }).predicate_type, 'https://cosign.sigstore.dev/attestation/v1');
  const dw = await run('verify-blob', 'changed.sh', '--bundle', 'attest.json', '--key', 'cosign.pub');
  assert.match(dw.stderr, /\[ERR_ATTEST_SUBJECT_MISMATCH\]/);
  const dk = await run('verify-blob', 'script.sh', '--bundle', 'attest.json', '--key', 'other.pub');
  assert.match(dk.stderr, /\[ERR_DSSE_THRESHOLD_UNMET\]/);

  // Neither --key nor --trust.
  const usage = await run('verify-blob', 'script.sh', '--bundle', 'logged.json');
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /\[ERR_USAGE_ARGUMENT\]/);
});

test('bundle parsing is strict and bounded; each malformed shape has its code', () => {
  const signer = key('bundle-signer');
  const payload = blobStatementPayload('a.bin', hex(sha256('a')));
  const good = JSON.parse(formatBundle(dsseBundle(payload, signer))) as Json;
  assert.deepEqual(JSON.parse(formatBundle(parseBundle(JSON.stringify(good)))), good, 'parse ∘ format is the identity');
  const keys = keysFromPublicKeys([signer.publicKey]);
  assert.ok(verifyBundle(JSON.stringify(good), { artifactSha256: hex(sha256('a')), keys }).attestation);

  const rows: Array<[string, (b: Json) => void, string]> = [
    ['unknown top-level field', (b) => (b['extra'] = 1), 'ERR_BUNDLE_SCHEMA'],
    ['v0.1 media type', (b) => (b['mediaType'] = 'application/vnd.dev.sigstore.bundle+json;version=0.1'), 'ERR_BUNDLE_MEDIA_TYPE'],
    ['no content', (b) => delete b['dsseEnvelope'], 'ERR_BUNDLE_SCHEMA'],
    ['two contents', (b) => (b['messageSignature'] = { messageDigest: { algorithm: 'SHA2_256', digest: 'AA==' }, signature: 'AA==' }), 'ERR_BUNDLE_SCHEMA'],
    ['no key form', (b) => delete (b['verificationMaterial'] as Json)['publicKey'], 'ERR_BUNDLE_SCHEMA'],
    ['two envelope signatures', (b) => (b['dsseEnvelope'] as { signatures: unknown[] }).signatures.push({ sig: 'AAAA' }), 'ERR_BUNDLE_SCHEMA'],
    ['envelope without payloadType', (b) => delete (b['dsseEnvelope'] as Json)['payloadType'], 'ERR_DSSE_SCHEMA'],
    [
      'logIndex as a number',
      (b) => ((b['verificationMaterial'] as Json)['tlogEntries'] = [{ logIndex: 1, logId: { keyId: 'AA==' }, kindVersion: { kind: 'dsse', version: '0.0.1' }, canonicalizedBody: 'AA==' }]),
      'ERR_BUNDLE_SCHEMA',
    ],
    [
      'logIndex with a leading zero',
      (b) => ((b['verificationMaterial'] as Json)['tlogEntries'] = [{ logIndex: '01', logId: { keyId: 'AA==' }, kindVersion: { kind: 'dsse', version: '0.0.1' }, canonicalizedBody: 'AA==' }]),
      'ERR_BUNDLE_SCHEMA',
    ],
    [
      'entry without an inclusion proof (v0.1 form)',
      (b) => ((b['verificationMaterial'] as Json)['tlogEntries'] = [{ logIndex: '1', logId: { keyId: 'AA==' }, kindVersion: { kind: 'dsse', version: '0.0.1' }, canonicalizedBody: 'AA==' }]),
      'ERR_BUNDLE_SCHEMA',
    ],
    ['unknown field in publicKey', (b) => ((b['verificationMaterial'] as Json)['publicKey'] = { hint: 'x', extra: 'y' }), 'ERR_BUNDLE_SCHEMA'],
    [
      'non-canonical base64 log id',
      (b) => ((b['verificationMaterial'] as Json)['tlogEntries'] = [{ logIndex: '1', logId: { keyId: 'AB==' }, kindVersion: { kind: 'dsse', version: '0.0.1' }, canonicalizedBody: 'AA==' }]),
      'ERR_BUNDLE_SCHEMA',
    ],
  ];
  for (const [name, mutate, code] of rows) {
    const b = clone(good);
    mutate(b);
    assert.throws(() => parseBundle(JSON.stringify(b)), (e: Error & { code?: string }) => (assert.equal(e.code, code, `${name}: ${e.message}`), true));
  }
  assertCode(() => parseBundle('{"mediaType":'), 'ERR_FORMAT_JSON');
  assertCode(() => parseBundle(Buffer.alloc(40 * 1024 * 1024, 0x20)), 'ERR_LIMIT_SIZE');
  const deep = clone(good);
  (deep['verificationMaterial'] as Json)['timestampVerificationData'] = { rfc3161Timestamps: JSON.parse('['.repeat(40) + ']'.repeat(40)) as unknown };
  assertCode(() => parseBundle(JSON.stringify(deep)), 'ERR_LIMIT_DEPTH');
  const many = clone(good);
  (many['verificationMaterial'] as Json)['tlogEntries'] = Array.from({ length: 17 }, () => ({}));
  assertCode(() => parseBundle(JSON.stringify(many)), 'ERR_LIMIT_COUNT');

  // Keyless bundles (certificates) parse but are not verified: Custody trusts keys.
  const cert = clone(good);
  (cert['verificationMaterial'] as Json) = { certificate: { rawBytes: 'MIIB' }, tlogEntries: [] };
  assertCode(() => verifyBundle(JSON.stringify(cert), { artifactSha256: hex(sha256('a')), keys }), 'ERR_BUNDLE_UNSUPPORTED');
  // A message signature over SHA2_384 is not read.
  const sha384 = { ...clone(good), messageSignature: { messageDigest: { algorithm: 'SHA2_384', digest: 'AAAA' }, signature: 'AAAA' } } as Json;
  delete sha384['dsseEnvelope'];
  assertCode(() => verifyBundle(JSON.stringify(sha384), { artifactSha256: hex(sha256('a')), keys }), 'ERR_BUNDLE_UNSUPPORTED');
});

test('library: a log entry is bound to its body, kind and log; verifyBundle reports the inclusion', () => {
  const signer = key('bundle-signer');
  const logKey = key('bundle-log');
  const noteSigner = newNoteSigner('example.test/log', logKey);
  const verifier = newNoteVerifier('example.test/log', logKey.publicKey);
  const digest = hex(sha256('a'));
  const b = dsseBundle(blobStatementPayload('a.bin', digest), signer);
  if (b.content.type !== 'dsseEnvelope') throw new Error('expected dsse');
  const body = dsseBody(b.content.envelope, signer.publicKey);
  // A one-entry log: the root is the leaf hash, the proof is empty.
  const checkpoint = signNote(formatCheckpoint({ origin: 'example.test/log', size: 1, rootHash: hashLeaf(body) }), [noteSigner]);
  const bundle = withTlogEntry(b, tlogEntryFromLog(body, 'dsse', { index: 0, checkpoint, proof: [] }, verifier));
  const keys = keysFromPublicKeys([signer.publicKey]);
  const v = verifyBundle(formatBundle(bundle), { artifactSha256: digest, keys, logKeys: [verifier] });
  assert.deepEqual(v.inclusion, { origin: 'example.test/log', index: 0, treeSize: 1 });
  assert.equal(v.attestation?.statement.subject[0]?.name, 'a.bin');
  // The same entry declared as another kind: not a body Custody checks for DSSE content.
  const intoto = { ...bundle, tlogEntries: [{ ...bundle.tlogEntries[0]!, kind: 'intoto', version: '0.0.2' }] };
  assertCode(() => verifyBundle(formatBundle(intoto), { artifactSha256: digest, keys, logKeys: [verifier] }), 'ERR_BUNDLE_UNSUPPORTED');
  // A body of another envelope (same log, valid proof): the body does not describe this content.
  const other = dsseBundle(blobStatementPayload('b.bin', digest), signer);
  if (other.content.type !== 'dsseEnvelope') throw new Error('expected dsse');
  const otherBody = dsseBody(other.content.envelope, signer.publicKey);
  const swapped = { ...bundle, tlogEntries: [{ ...bundle.tlogEntries[0]!, canonicalizedBody: otherBody }] };
  assertCode(() => verifyBundle(formatBundle(swapped), { artifactSha256: digest, keys, logKeys: [verifier] }), 'ERR_BUNDLE_TLOG_BODY_MISMATCH');
  // The log's answer for a body it did not include is refused before a bundle is written.
  assertCode(() => tlogEntryFromLog(otherBody, 'dsse', { index: 0, checkpoint, proof: [] }, verifier), 'ERR_TLOG_INCLUSION_INVALID');
});

test('library: a P-256 DSSE bundle goes through the same payloadType check and statement parse as Ed25519 (attestationFromVerified)', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const p256 = P256PublicKey.fromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  const digest = hex(sha256('a'));
  const statement = Buffer.from(blobStatementPayload('a.bin', digest));
  const bundleOf = (payloadType: string): string => {
    const paeBytes = Buffer.concat([Buffer.from(`DSSEv1 ${payloadType.length} ${payloadType} ${statement.length} `), statement]);
    return JSON.stringify({
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: { publicKey: { hint: 'cosign' }, tlogEntries: [] },
      dsseEnvelope: { payload: statement.toString('base64'), payloadType, signatures: [{ sig: nodeSign('sha256', paeBytes, privateKey).toString('base64'), keyid: '' }] },
    });
  };
  const options = { artifactSha256: digest, keys: keysFromPublicKeys([]), p256Keys: [p256] };
  const v = verifyBundle(bundleOf('application/vnd.in-toto+json'), options);
  assert.deepEqual(v.attestation?.signers, [hex(sha256(p256.spkiDer))]);
  const paeIntoto = Buffer.concat([Buffer.from(`DSSEv1 28 application/vnd.in-toto+json ${statement.length} `), statement]);
  assert.equal(v.attestation?.signedDigest, hex(sha256(paeIntoto)));
  // Signed by the trusted key, but not an in-toto payload: the same refusal as an Ed25519 envelope gets.
  assertCode(() => verifyBundle(bundleOf('text/plain'), options), 'ERR_DSSE_PAYLOAD_TYPE');
  // The shared function itself: the payloadType check first, then the statement parse of exactly these bytes.
  assertCode(() => attestationFromVerified('text/plain', statement, ['k']), 'ERR_DSSE_PAYLOAD_TYPE');
  assertCode(() => attestationFromVerified('application/vnd.in-toto+json', Buffer.from('{"_type":"x"}'), ['k']), 'ERR_INTOTO_SCHEMA');
  const a = attestationFromVerified('application/vnd.in-toto+json', statement, ['k']);
  assert.deepEqual([a.statement.predicateType, a.signers, a.signedDigest], [BLOB_PREDICATE_TYPE, ['k'], hex(sha256(paeIntoto))]);
});

test('library: a log entry body whose signature is not canonical base64 is refused by the encoding layer (ERR_FORMAT_BASE64)', () => {
  const signer = key('bundle-signer');
  const logKey = key('bundle-log');
  const verifier = newNoteVerifier('example.test/log', logKey.publicKey);
  const digest = hex(sha256('a'));
  const b = dsseBundle(blobStatementPayload('a.bin', digest), signer);
  if (b.content.type !== 'dsseEnvelope') throw new Error('expected dsse');
  const body = JSON.parse(Buffer.from(dsseBody(b.content.envelope, signer.publicKey)).toString('utf8')) as { spec: { signatures: Array<{ signature: string }> } };
  body.spec.signatures[0]!.signature = body.spec.signatures[0]!.signature.replace(/=*$/, '') + '!';
  const badBody = Buffer.from(JSON.stringify(body));
  const checkpoint = signNote(formatCheckpoint({ origin: 'example.test/log', size: 1, rootHash: hashLeaf(badBody) }), [newNoteSigner('example.test/log', logKey)]);
  const bundle = withTlogEntry(b, tlogEntryFromLog(badBody, 'dsse', { index: 0, checkpoint, proof: [] }, verifier));
  assertCode(() => verifyBundle(formatBundle(bundle), { artifactSha256: digest, keys: keysFromPublicKeys([signer.publicKey]), logKeys: [verifier] }), 'ERR_FORMAT_BASE64');
});
