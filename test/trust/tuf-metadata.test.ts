/**
 * trust/tuf-metadata: TUF timestamp, snapshot and targets metadata — written by us and accepted by @tufjs/models (a
 * third-party implementation checking our canonical JSON, key ids and signatures), and a negative table of the parser
 * and the verifier, one row per malformed or badly signed document, by code.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metadata, MetadataKind } from '@tufjs/models';
import { sha256 } from '../../src/crypto/index.ts';
import type { JsonObject } from '../../src/encoding/json.ts';
import { tufKeyId } from '../../src/keys/key-id.ts';
import { formatRoot } from '../../src/trust/root.ts';
import {
  TUF_TIMESTAMP_MAX_BYTES,
  checkMetaFile,
  checkTufSignatures,
  createSnapshot,
  createTargets,
  createTimestamp,
  metaFileFor,
  parseTufMetadata,
  requireTufUnexpired,
  signTufMetadata,
  verifyTufSignatures,
  type TufRole,
} from '../../src/trust/tuf-metadata.ts';
import { assertCode } from '../support/assert.ts';
import { NOW, key, rootOf, trusted } from '../support/fixtures.ts';

const k = { root: key('tuf-root'), targets: key('tuf-targets'), snapshot: key('tuf-snapshot'), timestamp: key('tuf-timestamp'), other: key('tuf-other') };
const root = trusted(
  rootOf([k.root], 1, [k.root], {
    roles: { targets: { keys: [k.targets], threshold: 1 }, snapshot: { keys: [k.snapshot], threshold: 1 }, timestamp: { keys: [k.timestamp], threshold: 1 } },
  }),
);
const LATER = new Date(NOW.getTime() + 86_400_000);
const payload = Buffer.from('kernel bytes');
const targetsText = signTufMetadata(
  createTargets({
    version: 3,
    expires: LATER,
    targets: new Map([['stable/x86_64/vmlinuz', { length: payload.length, hashes: { sha256: Buffer.from(sha256(payload)).toString('hex') }, custom: { channel: 'stable', arch: 'x86_64', sequence: 9 } }]]),
  }),
  [k.targets],
);
const snapshotText = signTufMetadata(createSnapshot({ version: 2, expires: LATER, meta: new Map([['targets.json', metaFileFor(Buffer.from(targetsText), 3)]]) }), [k.snapshot]);
const timestampText = signTufMetadata(createTimestamp({ version: 5, expires: LATER, snapshot: metaFileFor(Buffer.from(snapshotText), 2) }), [k.timestamp]);

test('our metadata parses, verifies, and is accepted by @tufjs/models under our root', () => {
  const ts = parseTufMetadata(timestampText, 'timestamp');
  const sn = parseTufMetadata(snapshotText, 'snapshot');
  const tg = parseTufMetadata(targetsText, 'targets');
  assert.equal(ts.version, 5);
  assert.equal(ts.snapshot.version, 2);
  assert.equal(sn.meta.get('targets.json')?.version, 3);
  assert.equal(tg.targets.get('stable/x86_64/vmlinuz')?.custom?.sequence, 9);
  assert.equal(tg.delegations, false);
  assert.deepEqual(verifyTufSignatures(ts, root, 'timestamp', NOW).valid, [tufKeyId(k.timestamp.publicKey)]);
  verifyTufSignatures(sn, root, 'snapshot', NOW);
  verifyTufSignatures(tg, root, 'targets', NOW);
  checkMetaFile(Buffer.from(snapshotText), ts.snapshot, 'snapshot');
  checkMetaFile(Buffer.from(targetsText), sn.meta.get('targets.json')!, 'targets');

  // tuf-js's models recompute canonical JSON and check the signatures with the key ids our root names.
  const tufRoot = Metadata.fromJSON(MetadataKind.Root, JSON.parse(formatRoot(root)) as never);
  tufRoot.verifyDelegate('timestamp', Metadata.fromJSON(MetadataKind.Timestamp, JSON.parse(timestampText) as never));
  tufRoot.verifyDelegate('snapshot', Metadata.fromJSON(MetadataKind.Snapshot, JSON.parse(snapshotText) as never));
  const tufTargets = Metadata.fromJSON(MetadataKind.Targets, JSON.parse(targetsText) as never);
  tufRoot.verifyDelegate('targets', tufTargets);
  assert.deepEqual(tufTargets.signed.targets['stable/x86_64/vmlinuz']?.custom, { channel: 'stable', arch: 'x86_64', sequence: 9 });
  // …and refuse a role signed by another role's key, as we do.
  assert.throws(() => tufRoot.verifyDelegate('timestamp', Metadata.fromJSON(MetadataKind.Timestamp, JSON.parse(signTufMetadata((JSON.parse(timestampText) as { signed: JsonObject }).signed, [k.snapshot])) as never)), /signed by 0\/1/);
});

/** edit returns the document text with `signed` changed by f (re-signed with `signer` unless null). */
function edit(text: string, f: (signed: JsonObject, doc: JsonObject) => void, signer: typeof k.root | null = null): string {
  const doc = JSON.parse(text) as JsonObject;
  f(doc.signed as JsonObject, doc);
  return signer === null ? JSON.stringify(doc) : signTufMetadata(doc.signed as JsonObject, [signer]);
}

test('the parser refuses malformed metadata, one row each', () => {
  const rows: Array<[string, TufRole, string, Parameters<typeof assertCode>[1]]> = [
    ['not JSON', 'timestamp', '{', 'ERR_FORMAT_JSON'],
    ['no signed', 'timestamp', '{"signatures":[]}', 'ERR_TUF_SCHEMA'],
    ['no signatures', 'timestamp', edit(timestampText, (_s, d) => delete d.signatures), 'ERR_TUF_SCHEMA'],
    ['another role', 'snapshot', timestampText, 'ERR_TUF_SCHEMA'],
    ['spec 2.0', 'timestamp', edit(timestampText, (s) => (s.spec_version = '2.0.0')), 'ERR_TUF_SCHEMA'],
    ['version 0', 'timestamp', edit(timestampText, (s) => (s.version = 0)), 'ERR_TUF_SCHEMA'],
    ['version 1.5', 'timestamp', edit(timestampText, (s) => (s.version = 1.5)), 'ERR_FORMAT_JSON_NUMBER'],
    ['version a string', 'timestamp', edit(timestampText, (s) => (s.version = '5')), 'ERR_TUF_SCHEMA'],
    ['expires not RFC 3339', 'timestamp', edit(timestampText, (s) => (s.expires = 'tomorrow')), 'ERR_TUF_SCHEMA'],
    ['timestamp meta with two files', 'timestamp', edit(timestampText, (s) => ((s.meta as JsonObject)['targets.json'] = { version: 1 })), 'ERR_TUF_SCHEMA'],
    ['meta version missing', 'timestamp', edit(timestampText, (s) => delete ((s.meta as JsonObject)['snapshot.json'] as JsonObject).version), 'ERR_TUF_SCHEMA'],
    ['sha256 of 63 hex', 'timestamp', edit(timestampText, (s) => (((s.meta as JsonObject)['snapshot.json'] as JsonObject).hashes = { sha256: 'a'.repeat(63) })), 'ERR_TUF_SCHEMA'],
    ['hash not hex', 'timestamp', edit(timestampText, (s) => (((s.meta as JsonObject)['snapshot.json'] as JsonObject).hashes = { sha256: 'Z'.repeat(64) })), 'ERR_TUF_SCHEMA'],
    ['snapshot without targets.json', 'snapshot', edit(snapshotText, (s) => (s.meta = { 'other.json': { version: 1 } })), 'ERR_TUF_SCHEMA'],
    ['snapshot meta name with a slash', 'snapshot', edit(snapshotText, (s) => ((s.meta as JsonObject)['../x.json'] = { version: 1 })), 'ERR_TUF_SCHEMA'],
    ['target path ..', 'targets', edit(targetsText, (s) => (s.targets = { '../etc/passwd': { length: 1, hashes: { sha256: 'a'.repeat(64) } } })), 'ERR_TUF_SCHEMA'],
    ['target path absolute', 'targets', edit(targetsText, (s) => (s.targets = { '/etc/passwd': { length: 1, hashes: { sha256: 'a'.repeat(64) } } })), 'ERR_TUF_SCHEMA'],
    ['target path backslash', 'targets', edit(targetsText, (s) => (s.targets = { 'a\\b': { length: 1, hashes: { sha256: 'a'.repeat(64) } } })), 'ERR_TUF_SCHEMA'],
    ['target length negative', 'targets', edit(targetsText, (s) => (s.targets = { a: { length: -1, hashes: { sha256: 'a'.repeat(64) } } })), 'ERR_TUF_SCHEMA'],
    ['target without hashes', 'targets', edit(targetsText, (s) => (s.targets = { a: { length: 1 } })), 'ERR_TUF_SCHEMA'],
    ['target custom not an object', 'targets', edit(targetsText, (s) => (s.targets = { a: { length: 1, hashes: { sha256: 'a'.repeat(64) }, custom: 'x' } })), 'ERR_TUF_SCHEMA'],
    ['delegations not an object', 'targets', edit(targetsText, (s) => (s.delegations = [])), 'ERR_TUF_SCHEMA'],
    ['signature without sig', 'timestamp', edit(timestampText, (_s, d) => (d.signatures = [{ keyid: 'a' }])), 'ERR_TUF_SCHEMA'],
    ['300 signatures', 'timestamp', edit(timestampText, (_s, d) => (d.signatures = Array.from({ length: 300 }, () => ({ keyid: 'a', sig: 'b' })))), 'ERR_LIMIT_COUNT'],
    ['over the timestamp cap', 'timestamp', edit(timestampText, (s) => (s.pad = 'x'.repeat(TUF_TIMESTAMP_MAX_BYTES))), 'ERR_LIMIT_SIZE'],
  ];
  for (const [what, role, text, code] of rows) {
    try {
      assertCode(() => parseTufMetadata(text, role), code);
    } catch (e) {
      throw new Error(`row "${what}": ${(e as Error).message}`, { cause: e });
    }
  }
});

test('signatures count only for the role\'s keys, once per key; bytes and expiry are checked', () => {
  const ts = parseTufMetadata(timestampText, 'timestamp');
  // Another role's key, an unknown key, a changed field after signing: 0/1.
  assertCode(() => verifyTufSignatures(parseTufMetadata(edit(timestampText, () => undefined, k.snapshot), 'timestamp'), root, 'timestamp', NOW), 'ERR_TUF_THRESHOLD_UNMET');
  assertCode(() => verifyTufSignatures(parseTufMetadata(edit(timestampText, () => undefined, k.other), 'timestamp'), root, 'timestamp', NOW), 'ERR_TUF_THRESHOLD_UNMET');
  assertCode(() => verifyTufSignatures(parseTufMetadata(edit(timestampText, (s) => (s.version = 6)), 'timestamp'), root, 'timestamp', NOW), 'ERR_TUF_THRESHOLD_UNMET');
  // The same signature twice counts once (a 2-of-1… threshold needs distinct keys).
  const twice = JSON.parse(timestampText) as { signed: JsonObject; signatures: unknown[] };
  twice.signatures.push(twice.signatures[0]);
  const r = checkTufSignatures(parseTufMetadata(JSON.stringify(twice), 'timestamp'), root, 'timestamp', NOW);
  assert.equal(r.valid.length, 1);
  assert.deepEqual(r.rejected.map((x) => x.reason), ['duplicate']);
  // Expiry.
  requireTufUnexpired(ts, NOW);
  assertCode(() => requireTufUnexpired(ts, LATER), 'ERR_TUF_EXPIRED');
  // Bytes against what the referring metadata says.
  assertCode(() => checkMetaFile(Buffer.from(snapshotText + ' '), ts.snapshot, 'snapshot'), 'ERR_TUF_MIX_AND_MATCH');
  assertCode(() => checkMetaFile(Buffer.from(snapshotText.replace('"version":2', '"version":7')), ts.snapshot, 'snapshot'), 'ERR_TUF_MIX_AND_MATCH');
});
