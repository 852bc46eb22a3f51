/**
 * test/provider/key-custody — issue 12 in the daemon: every signature it makes is a `key.used` event of the audit log
 * (manifests, checkpoints, /v1/sign) that `custody audit verify` accepts; and `--secrets`: the admin token, the log
 * key and the sealed signer key's passphrase come from the envelope-encrypted store, not from files.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PrivateKey, sha256 } from '../../src/crypto/index.ts';
import { encodeHex } from '../../src/encoding/bytes.ts';
import { verifyAuditLog } from '../../src/audit/audit-log.ts';
import { writeKeyPair } from '../../src/keys/key-file.ts';
import { tufKeyId } from '../../src/keys/key-id.ts';
import { parseVerifierKey } from '../../src/note/note.ts';
import { openSecretStore } from '../../src/secrets/open.ts';
import { DAEMON_SECRET_NAMES } from '../../src/server/daemon-secrets.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { cli } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';
import { start } from './harness.ts';

interface Rec {
  event: string;
  key_id?: string;
  purpose?: string;
  digest?: string;
}

function records(path: string): Rec[] {
  return readFileSync(path, 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Rec);
}

test('key use on record: manifests, checkpoints and /v1/sign each add a key.used audit event; audit verify accepts the log', async (t) => {
  const dataDir = join(tmpDir(t), 'data');
  const d = await start(t, dataDir, { sample: true });
  assert.ok(d.sample !== undefined);
  const tok = await cli(['token', 'create', '--data', dataDir, '--name', 'ci', '--scope', 'sign', '--json'], { cwd: dataDir });
  assert.equal(tok.code, 0, tok.stderr);
  const { token } = JSON.parse(tok.stdout) as { token: string };
  const signed = await fetch(`${d.url}/v1/sign`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ artifact: 'sha256:' + encodeHex(sha256('report')), artifact_type: 'report' }),
  });
  assert.equal(signed.status, 202, await signed.clone().text());
  const checkpoint = await (await fetch(`${d.url}/log/checkpoint`)).text();
  const signerId = tufKeyId(d.identity.signer.publicKey);
  const logId = tufKeyId(parseVerifierKey(d.vkey).publicKey);
  await d.close();

  const path = join(dataDir, 'audit.jsonl');
  await verifyAuditLog(path);
  const r = await cli(['audit', 'verify', path], { cwd: dataDir });
  assert.equal(r.code, 0, r.stderr);
  const used = records(path).filter((x) => x.event === 'key.used');
  const by = (p: string) => used.filter((x) => x.purpose === p);
  assert.ok(by('manifest').length >= 1, 'the sample manifest');
  assert.equal(by('signing-api').length, 1, 'one POST /v1/sign');
  assert.ok(by('checkpoint').length >= 2, 'checkpoints of the log');
  for (const x of [...by('manifest'), ...by('signing-api')]) assert.equal(x.key_id, signerId);
  for (const x of by('checkpoint')) assert.equal(x.key_id, logId);
  for (const x of used) assert.match(x.digest!, /^sha256:[0-9a-f]{64}$/);
  // The digest is of the exact bytes signed: the served checkpoint's note text is among them.
  const body = checkpoint.slice(0, checkpoint.indexOf('\n\n') + 1);
  assert.ok(by('checkpoint').some((x) => x.digest === 'sha256:' + encodeHex(sha256(body))), 'the served checkpoint was recorded');
  // The TUF repository's metadata (server/provider/tuf-repo) is signed too: targets by the manifest key, snapshot and
  // timestamp by their online keys.
  assert.ok(by('tuf-targets').length >= 1 && by('tuf-snapshot').length >= 1 && by('tuf-timestamp').length >= 1, 'the TUF metadata');
  for (const x of by('tuf-targets')) assert.equal(x.key_id, signerId);
  const tuf = ['tuf-targets', 'tuf-snapshot', 'tuf-timestamp'].reduce((n, p) => n + by(p).length, 0);
  assert.equal(used.length, by('manifest').length + by('signing-api').length + by('checkpoint').length + tuf, 'no other purpose');
});

test('serve --secrets: admin token, log key and the signer passphrase come from the store; nothing in plain files', async (t) => {
  const base = tmpDir(t);
  const dataDir = join(base, 'data');
  const storeDir = join(base, 'store');
  const ring = { env: { CUSTODY_PASSPHRASE: 'keyring passphrase' } };
  // The signer key is sealed with its own passphrase, which only the store knows.
  await writeKeyPair(join(dataDir, 'keys', 'signer.pem'), PrivateKey.generate(), { passphrase: new TextEncoder().encode('signer passphrase'), seal: { log2N: 10 } });
  {
    const { store } = await openSecretStore({ dir: storeDir, passphrase: ring, create: true, log2N: 10 });
    await store.put(DAEMON_SECRET_NAMES.signerPassphrase, new TextEncoder().encode('signer passphrase'));
    store.keyring.close();
  }
  const d = await start(t, dataDir, { secrets: { dir: storeDir }, passphrase: ring, sample: false });
  assert.equal(d.identity.tokenPath, 'secrets:daemon.admin-token');
  assert.equal(existsSync(join(dataDir, 'admin.token')), false);
  assert.equal(existsSync(join(dataDir, 'log', 'log.key')), false);
  const { store } = await openSecretStore({ dir: storeDir, passphrase: ring });
  t.after(() => store.keyring.close());
  assert.deepEqual((await store.list()).map((s) => s.name).sort(), ['daemon.admin-token', 'daemon.log-key', 'daemon.signer-passphrase', 'daemon.token-hmac-key']);
  const token = Buffer.from(await store.get(DAEMON_SECRET_NAMES.adminToken)).toString('utf8');
  const ok = await fetch(`${d.url}/admin/v1/rescan`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  assert.equal(ok.status, 200);
  const no = await fetch(`${d.url}/admin/v1/rescan`, { method: 'POST', headers: { authorization: 'Bearer ' + 'x'.repeat(43) } });
  assert.equal(no.status, 401);
  const vkey = d.vkey;
  await d.close();
  // A restart reads the same log key and token from the store.
  const again = await start(t, dataDir, { secrets: { dir: storeDir }, passphrase: ring, sample: false });
  assert.equal(again.vkey, vkey);
  assert.equal(again.identity.token.length, token.length);
  await again.close();
  // Without the keyring's passphrase the daemon does not start.
  await assertRejectsCode(start(t, dataDir, { secrets: { dir: storeDir }, passphrase: { env: { CUSTODY_PASSPHRASE: 'wrong' } } }), 'ERR_SECRETS_KEYRING_AUTH');
  // A data directory with a log key file is refused until the key is imported.
  const legacy = join(base, 'legacy');
  const plain = await start(t, legacy, { sample: false });
  await plain.close();
  await assertRejectsCode(start(t, legacy, { secrets: { dir: join(base, 'store2') }, passphrase: ring }), 'ERR_CONFIG_INVALID');
});
