/**
 * test/provider/log-key-token — `custody serve --log-key pkcs11:…` (issue 12): the embedded transparency log signs
 * its checkpoints with an Ed25519 key held in a real SoftHSM2 token. The served checkpoints verify under the token's
 * public key (the daemon's vkey is that key), each checkpoint signature is a `key.used` audit event with purpose
 * "checkpoint" and the token key's id, nothing is written to DATA/log/log.key, and a data directory that already has
 * a log key is refused. Skips loudly without SoftHSM2.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { verifyAuditLog } from '../../src/audit/audit-log.ts';
import { sha256 } from '../../src/crypto/index.ts';
import { encodeHex } from '../../src/encoding/bytes.ts';
import { openPkcs11Signer } from '../../src/hsm/pkcs11.ts';
import { tufKeyId } from '../../src/keys/key-id.ts';
import { openCheckpoint } from '../../src/note/checkpoint.ts';
import { newNoteVerifier, parseVerifierKey } from '../../src/note/note.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { cli } from '../support/cli.ts';
import { SKIP_SOFTHSM, setupSoftHsm, type SoftHsm } from '../support/softhsm.ts';
import { tmpDir } from '../support/tmp.ts';
import { get, putIncoming, start } from './harness.ts';

const skip = SKIP_SOFTHSM;
let hsm: SoftHsm;
before(() => {
  if (skip) return;
  hsm = setupSoftHsm(['logkey']);
});
after(() => hsm?.cleanup());

const ORIGIN = 'test.example/custody/token-log';

test('serve with the log key in a token: checkpoints verify under the token key, each one a key.used "checkpoint" event', { skip }, async (t) => {
  const dir = tmpDir(t);
  cpSync(hsm.pinFile, join(dir, 'pin.txt'));
  const uri = 'pkcs11:token=logkey;object=log-1?pin-source=file:pin.txt';
  const made = await cli(['keygen', '--pkcs11', uri, '--output', 'k/log'], { cwd: dir, env: hsm.env });
  assert.equal(made.code, 0, made.stderr);
  const logSigner = await openPkcs11Signer(uri, { cwd: dir, env: hsm.env });
  t.after(() => logSigner.close());
  const dataDir = join(dir, 'data');
  const d = await start(t, dataDir, { logSigner, origin: ORIGIN, sample: false });
  assert.equal(parseVerifierKey(d.vkey).publicKey.hex, logSigner.publicKey.hex, 'the log verifier key is the token key');
  assert.ok(!existsSync(join(dataDir, 'log', 'log.key')), 'no log key file');

  putIncoming(d, 'stable', 'x86_64', { vmlinuz: 'kernel one' });
  await d.rescan();
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: 'kernel two' });
  await d.rescan();
  const served = await get(d, '/log/checkpoint');
  assert.equal(served.status, 200);
  const text = served.body.toString('utf8');
  // Verified with the public key read from the token, through the note verifier a client builds from it.
  const { checkpoint } = openCheckpoint(text, newNoteVerifier(ORIGIN, logSigner.publicKey), { origin: ORIGIN });
  assert.ok(checkpoint.size >= 2, 'both releases are in the log');
  const proof = await get(d, '/stable/x86_64/manifest.json.tlog-proof');
  assert.equal(proof.status, 200);
  assert.equal((await get(d, '/health')).status, 200);
  await d.close();

  const path = join(dataDir, 'audit.jsonl');
  await verifyAuditLog(path);
  const used = readFileSync(path, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string; key_id?: string; purpose?: string; digest?: string })
    .filter((x) => x.event === 'key.used' && x.purpose === 'checkpoint');
  assert.ok(used.length >= 2, 'a key.used event per checkpoint');
  const logKeyId = tufKeyId(logSigner.publicKey);
  for (const x of used) assert.equal(x.key_id, logKeyId, 'recorded under the token key id');
  const body = text.slice(0, text.indexOf('\n\n') + 1);
  assert.ok(used.some((x) => x.digest === 'sha256:' + encodeHex(sha256(body))), 'the served checkpoint is among the recorded digests');

  // A restart with the same token key continues the same log.
  const again = await start(t, dataDir, { logSigner, origin: ORIGIN, sample: false });
  assert.equal(again.vkey, d.vkey);
  await again.close();
});

test('--log-key: a data directory with a log key file is refused; a file for --log-key is a usage error', { skip }, async (t) => {
  const dir = tmpDir(t);
  cpSync(hsm.pinFile, join(dir, 'pin.txt'));
  const uri = 'pkcs11:token=logkey;object=log-2?pin-source=file:pin.txt';
  assert.equal((await cli(['keygen', '--pkcs11', uri, '--output', 'k/log2'], { cwd: dir, env: hsm.env })).code, 0);
  const dataDir = join(dir, 'data');
  const first = await start(t, dataDir, { sample: false });
  await first.close();
  assert.ok(existsSync(join(dataDir, 'log', 'log.key')));
  const logSigner = await openPkcs11Signer(uri, { cwd: dir, env: hsm.env });
  t.after(() => logSigner.close());
  await assertRejectsCode(start(t, dataDir, { logSigner, sample: false }), 'ERR_CONFIG_INVALID');
  const r = await cli(['serve', '--data', 'other', '--port', '0', '--log-key', 'k/log2.pub'], { cwd: dir, env: hsm.env });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--log-key takes a pkcs11: URI.*\[ERR_USAGE_ARGUMENT\]/);
});
