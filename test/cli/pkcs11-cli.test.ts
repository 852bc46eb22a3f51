/**
 * Keys in a token through the CLI and the daemons (issue 12), on a real SoftHSM2 token store: `keygen --pkcs11`,
 * `key show pkcs11:…`, then trust roots, manifests, packages, detached signatures and the log's checkpoints signed in
 * the token and verified; the same commands with file keys give byte-identical documents except the signatures; the
 * provider daemon signs with a token key and, when the token goes away, keeps serving what it has while /health and
 * /v1/ready report it. Skips loudly when SoftHSM2 is not installed.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { openPkcs11Signer } from '../../src/hsm/pkcs11.ts';
import { startLogServer } from '../../src/server/log/server.ts';
import { cli } from '../support/cli.ts';
import { SKIP_SOFTHSM, setupSoftHsm, type SoftHsm } from '../support/softhsm.ts';
import { tmpDir } from '../support/tmp.ts';
import { startDaemon, type DaemonOptions, type RunningDaemon } from '../../src/server/daemon.ts';
import { get, putIncoming, start } from '../provider/harness.ts';

const skip = SKIP_SOFTHSM;
let hsm: SoftHsm;
before(() => {
  if (skip) return;
  hsm = setupSoftHsm(['offline-root', 'online', 'daemon', 'rotation']);
});
after(() => hsm?.cleanup());

const rootUri = 'pkcs11:token=offline-root;object=root-1?pin-source=file:pin.txt';
const onlineUri = 'pkcs11:token=online;object=release-1?pin-source=file:pin.txt';

/** stripSignatures removes what only the key changes: signature values and the key ids beside them. */
function stripSignatures(text: string): unknown {
  const j = JSON.parse(text) as Record<string, unknown>;
  delete j.signatures;
  return j;
}

test('keygen --pkcs11, key show, and every signed document through the token; file keys give the same documents', { skip }, async (t) => {
  const dir = tmpDir(t);
  cpSync(hsm.pinFile, join(dir, 'pin.txt'));
  const env = { ...hsm.env };
  // One clock for both key sets, so created/expires times match.
  const now = new Date('2026-06-01T00:00:00Z');
  const run = async (...argv: string[]): Promise<string> => {
    const r = await cli(argv, { cwd: dir, env, now });
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  // Keygen writes only the .pub; the private key stays in the token.
  const made = JSON.parse(await run('keygen', '--pkcs11', rootUri, '--output', 'k/root', '--json')) as { key_id: string; pkcs11_uri: string; public_key_path: string };
  assert.match(made.pkcs11_uri, /^pkcs11:token=offline-root;object=root-1;id=/);
  assert.ok(existsSync(join(dir, 'k/root.pub')) && !existsSync(join(dir, 'k/root')), 'only the public key is written');
  await run('keygen', '--pkcs11', onlineUri, '--output', 'k/online');
  const shown = JSON.parse(await run('key', 'show', rootUri, '--json')) as { key_id: string };
  const fromPub = JSON.parse(await run('key', 'show', 'k/root.pub', '--json')) as { key_id: string };
  assert.equal(shown.key_id, made.key_id);
  assert.equal(fromPub.key_id, made.key_id, 'key show of the token key prints the TUF key id of its .pub');
  const again = await cli(['keygen', '--pkcs11', onlineUri, '--output', 'k/online'], { cwd: dir, env });
  assert.equal(again.code, 3);
  assert.match(again.stderr, /\[ERR_IO_EXISTS\]/, 'an existing .pub is refused before the token is touched');
  const clash = await cli(['keygen', '--pkcs11', onlineUri, '--output', 'k/online-2'], { cwd: dir, env });
  assert.match(clash.stderr, /\[ERR_PKCS11_KEY_EXISTS\]/);
  assert.ok(!existsSync(join(dir, 'k/online-2.pub')), 'nothing written on a refusal');
  const pinInArgv = await cli(['key', 'show', 'pkcs11:token=online;object=release-1?pin-value=1234'], { cwd: dir, env });
  assert.equal(pinInArgv.code, 2);
  assert.match(pinInArgv.stderr, /\[ERR_PKCS11_PIN_IN_URI\]/);

  // The same documents made with file keys.
  await run('keygen', '--output', 'f/root.pem');
  await run('keygen', '--output', 'f/online.pem');
  const ids: Record<'k' | 'f', Record<string, string>> = { k: {}, f: {} };
  for (const pre of ['k', 'f'] as const) {
    for (const n of ['root', 'online']) {
      const file = pre === 'k' ? `k/${n}.pub` : `f/${n}.pub`;
      const k = JSON.parse(await run('key', 'show', file, '--json')) as { key_id: string; public_key: string };
      ids[pre][n] = k.key_id;
      ids[pre][`${n}-public`] = k.public_key;
    }
  }
  const init = (pre: string, signKey: string) =>
    run('trust', 'init', '--key', `${pre}/online.pub`, '--threshold', '1', '--root-key', `${pre}/root.pub`, '--root-threshold', '1', '--expires', '365d', '--sign', signKey, '--output', `${pre}-root.json`);
  await init('k', rootUri);
  await init('f', 'f/root.pem');
  await run('trust', 'verify', 'k-root.json');

  mkdirSync(join(dir, 'art'));
  writeFileSync(join(dir, 'art', 'vmlinuz'), 'kernel');
  await run('manifest', 'create', '--artifacts', 'art', '--channel', 'stable', '--arch', 'x86_64', '--sequence', '1', '--output', 'm.json');
  await run('sign-manifest', '--manifest', 'm.json', '--key', onlineUri, '--output', 'k-m.json');
  await run('sign-manifest', '--manifest', 'm.json', '--key', 'f/online.pem', '--output', 'f-m.json');
  await run('verify-manifest', 'k-m.json', '--trust', 'k-root.json');
  await run('verify', 'k-m.json', 'art/vmlinuz', '--trust', 'k-root.json');

  // Package signatures (detached .sigs) and a PSPF package, signed in the token and verified.
  await run('sign-package', 'art/vmlinuz', '--key', onlineUri, '--signatures', 'k.sigs');
  await run('sign-package', 'art/vmlinuz', '--key', 'f/online.pem', '--signatures', 'f.sigs');
  await run('pack', '--slot', 'art/vmlinuz', '--name', 'app', '--version', '1.0.0', '--key', onlineUri, '--output', 'app.psp');
  await run('verify-package', 'app.psp', '--trusted-key', 'k/online.pub');
  await run('sign-package', 'app.psp', '--key', onlineUri);
  await run('verify-package', 'app.psp', '--trust', 'k-root.json');

  for (const [a, b] of [['k-root.json', 'f-root.json'], ['k-m.json', 'f-m.json'], ['k.sigs', 'f.sigs']] as const) {
    const ka = readFileSync(join(dir, a), 'utf8');
    const fb = readFileSync(join(dir, b), 'utf8');
    // Roots name their keys, so key ids and public keys differ there; replace them before comparing.
    const norm = (s: string, pre: 'k' | 'f'): unknown => {
      let out = s;
      for (const [n, id] of Object.entries(ids[pre])) out = out.replaceAll(id, `<${n}>`);
      return stripSignatures(out);
    };
    assert.deepEqual(norm(ka, 'k'), norm(fb, 'f'), `${a} and ${b} differ only in their signatures`);
  }

  const m = JSON.parse(readFileSync(join(dir, 'k-m.json'), 'utf8')) as { signatures: Array<{ key_id: string }> };
  assert.deepEqual(m.signatures.map((s) => s.key_id), [ids.k.online]);
});

test('log checkpoints signed in the token verify under the printed vkey; a file-key log gives the same checkpoint body', { skip }, async (t) => {
  const dir = tmpDir(t);
  const signer = await openPkcs11Signer('pkcs11:token=online;object=log-1?pin-source=file:' + hsm.pinFile, { cwd: dir, env: hsm.env }).catch(async () => {
    // The key is made on first use (this test may run alone).
    const { generatePkcs11Key } = await import('../../src/hsm/pkcs11.ts');
    await generatePkcs11Key('pkcs11:token=online;object=log-1?pin-source=file:' + hsm.pinFile, { cwd: dir, env: hsm.env });
    return openPkcs11Signer('pkcs11:token=online;object=log-1?pin-source=file:' + hsm.pinFile, { cwd: dir, env: hsm.env });
  });
  const token = 'pkcs11-log-token-0123456789';
  writeFileSync(join(dir, 'token'), token, { mode: 0o600 });
  const silent = pino({ level: 'silent' });
  const origin = 'example.test/log';
  const tokenLog = await startLogServer({ dataDir: join(dir, 'tl'), origin, tokens: [new TextEncoder().encode(token)], host: '127.0.0.1', port: 0, logger: silent, signer });
  t.after(() => tokenLog.close());
  const fileLog = await startLogServer({ dataDir: join(dir, 'fl'), origin, tokens: [new TextEncoder().encode(token)], host: '127.0.0.1', port: 0, logger: silent });
  t.after(() => fileLog.close());
  assert.ok(!existsSync(join(dir, 'tl', 'log.key')), 'no key file is made for a token-signed log');
  assert.ok(tokenLog.vkey.endsWith(Buffer.concat([Buffer.from([1]), Buffer.from(signer.publicKey.raw)]).toString('base64')));
  writeFileSync(join(dir, 'entry'), 'sha256:0123456789abcdef\n');
  for (const [log, name] of [[tokenLog, 't'], [fileLog, 'f']] as const) {
    // log add checks the checkpoint under the vkey; verify-inclusion re-checks offline.
    const r = await cli(['log', 'add', log.url, '--token-file', 'token', '--entry', 'entry', '--key', log.vkey, '--output', `${name}.proof`], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const v = await cli(['log', 'verify-inclusion', '--proof', `${name}.proof`, '--key', log.vkey, '--entry', 'entry'], { cwd: dir });
    assert.equal(v.code, 0, v.stderr);
  }
  const body = async (url: string) => (await (await fetch(`${url}/checkpoint`)).text()).split('\n\n')[0];
  assert.equal(await body(tokenLog.url), await body(fileLog.url), 'the same entries give the same checkpoint body; only the signature line differs');
  // log serve refuses a file for --key (the file key is DIR/log.key).
  const bad = await cli(['log', 'serve', '--data', 'x', '--port', '0', '--origin', origin, '--token-file', 'token', '--key', 'k.pem'], { cwd: dir });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /\[ERR_USAGE_ARGUMENT\]/);
  signer.close();
});

test('serve with a token key: manifests signed in the token; the token goes away: still serving, /health and /v1/ready 503', { skip }, async (t) => {
  const dir = tmpDir(t);
  cpSync(hsm.pinFile, join(dir, 'pin.txt'));
  const uri = 'pkcs11:token=daemon;object=signer-1?pin-source=file:pin.txt';
  const r = await cli(['keygen', '--pkcs11', uri, '--output', 'k/signer'], { cwd: dir, env: hsm.env });
  assert.equal(r.code, 0, r.stderr);
  const signer = await openPkcs11Signer(uri, { cwd: dir, env: hsm.env, poolSize: 2 });
  const d = await start(t, join(dir, 'data'), { signer });
  assert.ok(!existsSync(join(dir, 'data', 'keys', 'signer.pem')), 'no signer key file with a token key');
  putIncoming(d, 'stable', 'x86_64', { vmlinuz: 'kernel' });
  await d.rescan();
  const m = await get(d, '/stable/x86_64/manifest.json');
  assert.equal(m.status, 200);
  writeFileSync(join(dir, 'm.json'), m.body);
  const v = await cli(['verify-manifest', 'm.json', '--trust', join(dir, 'data', 'trust', 'root.json')], { cwd: dir });
  assert.equal(v.code, 0, v.stderr);
  assert.equal((await get(d, '/health')).status, 200);

  // The token disappears.
  rmSync(hsm.tokenDirOf('daemon'), { recursive: true, force: true });
  const ready = await get(d, '/v1/ready');
  assert.equal(ready.status, 503);
  assert.equal(ready.json().code, 'ERR_SIGNAPI_NOT_READY');
  const health = await get(d, '/health');
  assert.equal(health.status, 503);
  assert.deepEqual((health.json().checks as Record<string, unknown>).key, false);
  // What is already signed is still served.
  const still = await get(d, '/stable/x86_64/manifest.json');
  assert.equal(still.status, 200);
  assert.deepEqual(still.body, m.body);
});

test('key rotation for the daemon with both keys in SoftHSM2: dual-signing during the transition, new key only after', { skip }, async (t) => {
  const dir = tmpDir(t);
  cpSync(hsm.pinFile, join(dir, 'pin.txt'));
  const env = hsm.env;
  const run = async (...argv: string[]): Promise<string> => {
    const r = await cli(argv, { cwd: dir, env });
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const u = (token: string, object: string) => `pkcs11:token=${token};object=${object}?pin-source=file:pin.txt`;
  const rootKey = u('offline-root', 'rot-root');
  const oldKey = u('rotation', 'manifest-old');
  const newKey = u('rotation', 'manifest-new');
  await run('keygen', '--pkcs11', rootKey, '--output', 'k/root');
  await run('keygen', '--pkcs11', oldKey, '--output', 'k/old');
  // Root role (and snapshot/timestamp) on the offline token; the targets role (manifest signers) on the online one.
  await run('trust', 'init', '--key', 'k/root.pub', '--threshold', '1', '--manifest-key', 'k/old.pub', '--manifest-threshold', '1', '--expires', '365d', '--sign', rootKey, '--output', 'v1.json');
  const data = join(dir, 'data');
  mkdirSync(join(data, 'trust'), { recursive: true, mode: 0o700 });
  const install = (v: number): void => {
    const text = readFileSync(join(dir, `v${v}.json`));
    writeFileSync(join(data, 'trust', `${v}.root.json`), text);
    writeFileSync(join(data, 'trust', 'root.json'), text);
  };
  const serve = async (key: string, previous: string[], extra: Partial<DaemonOptions> = {}): Promise<RunningDaemon> => {
    const o = { cwd: dir, env };
    const signer = await openPkcs11Signer(key, { ...o, poolSize: 2 });
    const previousSigners = await Promise.all(previous.map((p) => openPkcs11Signer(p, o)));
    const d = await startDaemon({ dataDir: data, host: '127.0.0.1', port: 0, logger: pino({ level: 'error' }), rateLimitPerIp: 0, signer, previousSigners, ...extra });
    t.after(() => d.close().catch(() => undefined));
    return d;
  };
  const publish = async (d: RunningDaemon, channel: string, name: string): Promise<{ keyIds: string[]; file: string }> => {
    putIncoming(d, channel, 'x86_64', { [name]: `${name} bytes` });
    await d.rescan();
    const m = await get(d, `/${channel}/x86_64/manifest.json`);
    assert.equal(m.status, 200);
    const file = `${channel}-${name}.json`;
    writeFileSync(join(dir, file), m.body);
    return { keyIds: (m.json().signatures as Array<{ key_id: string }>).map((s) => s.key_id), file };
  };
  const verifies = async (manifest: string, root: string): Promise<number> => (await cli(['verify-manifest', manifest, '--trust', root], { cwd: dir })).code;
  const idOf = async (pub: string): Promise<string> => (JSON.parse(await run('key', 'show', pub, '--json')) as { key_id: string }).key_id;

  // Before: v1 names the old key; the daemon signs with it.
  install(1);
  let d = await serve(oldKey, []);
  const oldId = await idOf('k/old.pub');
  const before = await publish(d, 'stable', 'a');
  assert.deepEqual(before.keyIds, [oldId]);
  assert.equal(await verifies(before.file, 'v1.json'), 0);
  await d.close();

  // 1. The new key is made in the token; 2. the root's next version names both (signed by the offline root key).
  await run('keygen', '--pkcs11', newKey, '--output', 'k/new');
  const newId = await idOf('k/new.pub');
  await run('trust', 'add-key', '--trust', 'v1.json', '--key', 'k/new.pub', '--sign', rootKey, '--output', 'v2.json');
  install(2);
  // 3. The transition: serve --key NEW with the old key still in the root signs every manifest with both.
  d = await serve(newKey, [oldKey]);
  assert.deepEqual(d.identity.previousSigners.map((s) => s.publicKey.hex), [(await openPkcs11Signer(oldKey, { cwd: dir, env })).publicKey.hex]);
  const during = await publish(d, 'beta', 'b');
  assert.deepEqual(during.keyIds.slice().sort(), [oldId, newId].sort(), 'dual-signed during the transition');
  assert.equal(await verifies(during.file, 'v1.json'), 0, 'a client still on v1 accepts (the old key counts)');
  assert.equal(await verifies(during.file, 'v2.json'), 0, 'a client on v2 accepts');
  assert.equal((await get(d, '/trust/2.root.json')).status, 200, 'clients find the next root version to move forward');
  await d.close();

  // 4. After the transition: v3 revokes the old key; the daemon signs with the new key only (the old one is dropped).
  await run('trust', 'revoke', '--trust', 'v2.json', '--key', 'k/old.pub', '--sign', rootKey, '--output', 'v3.json');
  install(3);
  d = await serve(newKey, [oldKey]);
  assert.deepEqual(d.identity.previousSigners, []);
  assert.match(d.identity.warnings.join('\n'), /no longer a targets key/);
  const afterRot = await publish(d, 'edge', 'c');
  assert.deepEqual(afterRot.keyIds, [newId]);
  assert.equal(await verifies(afterRot.file, 'v3.json'), 0);
  assert.equal(await verifies(afterRot.file, 'v1.json'), 1, 'a client that never moved past v1 refuses the new key alone');
  assert.match(await run('trust', 'verify', 'v3.json', '--previous', 'v1.json', '--chain', 'v2.json'), /verified: root version 3/);
  // The release signed by the old key alone no longer verifies under v3: the daemon re-signed it at start.
  const resigned = await get(d, '/stable/x86_64/manifest.json');
  writeFileSync(join(dir, 'stable-resigned.json'), resigned.body);
  assert.equal(await verifies('stable-resigned.json', 'v3.json'), 0);
  await d.close();
});
