/**
 * `custody sign-remote` / `custody verify-remote` (client/signing-client) against a real daemon on loopback: a Custody
 * token from a file or CUSTODY_TOKEN, an OIDC token from a real provider (keyless: certificate in the signature file,
 * identity constraints on verification), refusals relayed with the daemon's code and our exit codes, and nothing
 * written when signing is refused. Then `custody serve --dev` as a real process with --oidc-issuer: the banner, the
 * development token, the labelled answers, and sign-remote as a child process using that token.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SigningClient } from '../../src/client/signing-client.ts';
import { sha256 } from '../../src/crypto/index.ts';
import { encodeHex } from '../../src/encoding/bytes.ts';
import { cli, spawnCli } from '../support/cli.ts';
import { startProvider, type TestClient } from '../support/oidc-provider.ts';
import { tmpDir } from '../support/tmp.ts';
import { serveChild, start } from '../provider/harness.ts';

const ALICE: TestClient = { id: 'alice-laptop', secret: 'alice-secret-0123456789abcdef', claims: { email: 'alice@example.com', email_verified: true } };

test('sign-remote and verify-remote with a Custody token and with an OIDC token (keyless)', async (t) => {
  const p = await startProvider(t, { audience: 'custody-cli', clients: [ALICE] });
  const d = await start(t, join(tmpDir(t), 'data'), { oidc: { issuers: [{ issuer: p.issuer, audience: 'custody-cli', identityClaim: 'email', scopes: ['sign', 'verify'] }] } });
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'app.tar'), 'the artifact');
  const made = await cli(['token', 'create', '--data', d.dataDir, '--name', 'ci', '--scope', 'sign,verify', '--json'], { cwd: dir });
  const { token, id } = JSON.parse(made.stdout) as { token: string; id: string };
  writeFileSync(join(dir, 'ci.token'), token + '\n', { mode: 0o600 });

  const signed = await cli(['sign-remote', d.url, 'app.tar', '--token-file', 'ci.token', '--type', 'report', '--output', 'app.sig.json', '--json'], { cwd: dir });
  assert.equal(signed.code, 0, signed.stderr);
  const out = JSON.parse(signed.stdout) as { entry_id: string; log_index: number; certificate: null };
  assert.equal(out.certificate, null);
  const sig = JSON.parse(readFileSync(join(dir, 'app.sig.json'), 'utf8')) as { entry_id: string; signature: string };
  assert.equal(sig.entry_id, out.entry_id);

  // CUSTODY_TOKEN works as well; --require-inclusion makes the daemon prove the entry.
  const ok = await cli(['verify-remote', d.url, 'app.tar', '--signature', 'app.sig.json', '--require-inclusion', '--identity', 'ci'], { cwd: dir, env: { CUSTODY_TOKEN: token } });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^valid: sha256:[0-9a-f]{64} signed by ci, log index \d+\n$/);
  // Another file: refused with the daemon's code, exit 1.
  writeFileSync(join(dir, 'other.tar'), 'another artifact');
  const wrong = await cli(['verify-remote', d.url, 'other.tar', '--signature', 'app.sig.json', '--token-file', 'ci.token'], { cwd: dir });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /\[ERR_ATTEST_SUBJECT_MISMATCH\]/);

  // OIDC: the daemon signs keyless.
  writeFileSync(join(dir, 'oidc.token'), await p.token(ALICE), { mode: 0o600 });
  const keyless = await cli(['sign-remote', d.url, '--digest', 'sha256:' + encodeHex(sha256('the artifact')), '--oidc-token-file', 'oidc.token', '--output', 'keyless.sig.json'], { cwd: dir });
  assert.equal(keyless.code, 0, keyless.stderr);
  assert.match(keyless.stdout, /keyless \(certificate in the answer\)/);
  const ks = JSON.parse(readFileSync(join(dir, 'keyless.sig.json'), 'utf8')) as { certificate: string };
  assert.match(ks.certificate, /^-----BEGIN CERTIFICATE-----/);
  const kv = await cli(['verify-remote', d.url, 'app.tar', '--signature', 'keyless.sig.json', '--token-file', 'ci.token', '--certificate-identity', 'alice@example.com', '--certificate-oidc-issuer', p.issuer, '--json'], { cwd: dir });
  assert.equal(kv.code, 0, kv.stderr);
  assert.equal((JSON.parse(kv.stdout) as { signer: string }).signer, 'alice@example.com');
  const bob = await cli(['verify-remote', d.url, 'app.tar', '--signature', 'keyless.sig.json', '--token-file', 'ci.token', '--certificate-identity-regexp', '^bob@'], { cwd: dir });
  assert.equal(bob.code, 1);
  assert.match(bob.stderr, /\[ERR_KEYLESS_IDENTITY_MISMATCH\]/);

  // The library client gives the same answers.
  const client = new SigningClient({ url: d.url, token });
  assert.equal((await client.keylessCa()).startsWith('-----BEGIN CERTIFICATE-----'), true);
  assert.equal((await client.transparencyEntry(sig.entry_id))['entry_id'], sig.entry_id);

  // Refusals: no token (usage, exit 2), a revoked token (the daemon's 401 code, exit 1, nothing written).
  const none = await cli(['sign-remote', d.url, 'app.tar', '--output', 'x.json'], { cwd: dir });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /\[ERR_USAGE_ARGUMENT\]/);
  assert.equal((await cli(['token', 'revoke', '--data', d.dataDir, id], { cwd: dir })).code, 0);
  const revoked = await cli(['sign-remote', d.url, 'app.tar', '--token-file', 'ci.token', '--output', 'x.json'], { cwd: dir });
  assert.equal(revoked.code, 1);
  assert.match(revoked.stderr, /\[ERR_AUTH_TOKEN_REVOKED\]/);
  assert.equal(existsSync(join(dir, 'x.json')), false);
});

test('custody serve --dev: labelled banner and answers, a development token (0600) that sign-remote uses', async (t) => {
  const p = await startProvider(t, { audience: 'custody-dev', clients: [ALICE] });
  const dir = tmpDir(t);
  const refused = await cli(['serve', '--dev', '--host', '0.0.0.0', '--data', join(dir, 'x')], { cwd: dir });
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /loopback/);
  const s = await serveChild(t, dir, ['--dev', '--data', join(dir, 'data'), '--workers', '1', '--no-sample', '--oidc-issuer', p.issuer, '--oidc-audience', 'custody-dev']);
  const info = s.info as unknown as { url: string; mode: string; dev_token_file: string; oidc_issuers: string[] };
  assert.equal(info.mode, 'development');
  assert.deepEqual(info.oidc_issuers, [p.issuer]);
  assert.equal(statSync(info.dev_token_file).mode & 0o777, 0o600);
  const health = await fetch(`${info.url}/v1/health`);
  assert.equal(health.headers.get('custody-mode'), 'development');
  assert.equal(((await health.json()) as { mode: string }).mode, 'development');

  writeFileSync(join(dir, 'app.tar'), 'dev build');
  const token = readFileSync(info.dev_token_file, 'utf8').trim();
  const r = await spawnCli(['sign-remote', info.url, 'app.tar', '--output', 'app.sig.json', '--json'], { cwd: dir, env: { CUSTODY_TOKEN: token } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { certificate: null }).certificate, null);
  // The CA of --oidc-issuer is served.
  assert.equal((await fetch(`${info.url}/v1/keys/keyless-ca.pem`)).status, 200);
});
