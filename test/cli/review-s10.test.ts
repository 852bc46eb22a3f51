/**
 * Fixes of the CLI review of session 10 (briefs/s10/fix-cli.md), each against real files, in-process CLI runs, real
 * child processes or loopback servers: every refusal asserted by its exact code and exit code, and what a refused
 * command must not have created.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { PrivateKey } from '../../src/crypto/index.ts';
import { formatNoteKeyText, noteKeyId } from '../../src/note/note.ts';
import { startLogServer } from '../../src/server/log/server.ts';
import { CLI_MAIN, REPO_ROOT, TSX_LOADER, cli, spawnCli } from '../support/cli.ts';
import { listTree, tmpDir } from '../support/tmp.ts';
import { start } from '../provider/harness.ts';

function verifierKey(name: string): string {
  const pub = PrivateKey.generate().publicKey.raw;
  return formatNoteKeyText(name, noteKeyId(name, 0x01, pub), 0x01, pub);
}

test('keygen --output x.pub is refused before anything is written (the .pub would replace the private key)', async (t) => {
  const dir = tmpDir(t);
  const r = await cli(['keygen', '--output', 'k/x.pub'], { cwd: dir });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /\[ERR_USAGE_ARGUMENT\]/);
  assert.match(r.stderr, /is FILE itself/);
  assert.deepEqual(listTree(dir), []);
  // Any other extension still works, and the .pub lands beside it.
  const ok = await cli(['keygen', '--output', 'k/x.key'], { cwd: dir });
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(listTree(dir), ['k', 'k/x.key', 'k/x.pub']);
  assert.match(readFileSync(join(dir, 'k/x.key'), 'utf8'), /PRIVATE KEY/);
});

test('witness serve --log-level bogus: usage error, exit 2, and no data directory, key or database created', async (t) => {
  const dir = tmpDir(t);
  const r = await cli(['witness', 'serve', '--data', 'w', '--port', '0', '--log', verifierKey('example.test/log'), '--log-level', 'bogus'], { cwd: dir });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--log-level: expected fatal, error, warn, info or debug, got "bogus" \[ERR_USAGE_ARGUMENT\]/);
  assert.equal(existsSync(join(dir, 'w')), false);
});

test('demo parses its arguments: an unknown flag is a usage error; --json prints one result', async (t) => {
  const dir = tmpDir(t);
  const bad = await cli(['demo', '--kep'], { cwd: dir });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /\[ERR_USAGE_ARGUMENT\]/);
  assert.equal(bad.stdout, '');
  const extra = await cli(['demo', 'now'], { cwd: dir });
  assert.equal(extra.code, 2);
  assert.match(extra.stderr, /\[ERR_USAGE_ARGUMENT\]/);
  const ok = await cli(['demo', '--json'], { cwd: dir });
  assert.equal(ok.code, 0, ok.stderr);
  const res = JSON.parse(ok.stdout) as { ok: boolean; kept: boolean; dir: string; steps: Array<{ title: string; exit: number; output: string }> };
  assert.equal(res.ok, true);
  assert.equal(res.kept, false);
  assert.equal(existsSync(res.dir), false);
  assert.deepEqual(res.steps.map((s) => s.exit), [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
  assert.match(res.steps[10]!.output, /\[ERR_/);
});

test('docs: publish --help names the default version rightly; audit verify points at DATA/audit.jsonl; one reserved channel list', async () => {
  const { publish } = await import('../../src/cli/commands/provider.ts');
  const { auditVerify } = await import('../../src/cli/commands/audit.ts');
  const { RESERVED_CHANNEL_NAMES } = await import('../../src/server/provider/releases.ts');
  assert.doesNotMatch(publish.usage, /previous release/);
  assert.match(publish.usage, /--version V {7}release version \(default: none given, the provider names the release by its sequence\)/);
  assert.doesNotMatch(auditVerify.usage, /audit\.log\b/);
  assert.match(auditVerify.usage, /custody audit verify custody-data\/audit\.jsonl\n/);
  const auditMd = readFileSync(join(REPO_ROOT, 'docs/audit.md'), 'utf8');
  assert.doesNotMatch(auditMd, /audit verify audit\.log/);
  const providerMd = readFileSync(join(REPO_ROOT, 'docs/provider.md'), 'utf8');
  const sentences = providerMd.match(/are the daemon's own routes and refused as channels/g) ?? [];
  assert.equal(sentences.length, 1);
  const bullet = /- \*\*Channel names\*\*[^]*?\(`ERR_PROVIDER_CHANNEL_NAME`\)/.exec(providerMd)![0];
  const named = [...bullet.matchAll(/`([a-z0-9]+)`/g)].map((m) => m[1]!).sort();
  assert.deepEqual(named, [...RESERVED_CHANNEL_NAMES].sort());
});

/** fakeSigningApi answers every POST /v1/verify "valid", as a daemon does for a key-signed envelope; counts calls. */
async function fakeSigningApi(t: TestContext, signer: string): Promise<{ url: string; calls: () => number }> {
  let calls = 0;
  const srv = createServer((req, res) => {
    calls++;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ valid: true, signer, transparency_index: 4, entry_id: 'ab'.repeat(32) }));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => srv.close());
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, calls: () => calls };
}

test('verify-remote: certificate constraints on a key-signed SIG.json are refused; exact+regexp twins refused; signer escaped; token mode warned', async (t) => {
  const api = await fakeSigningApi(t, 'ci\u001b[2Jevil');
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'app.tar'), 'the artifact');
  writeFileSync(join(dir, 'app.sig.json'), JSON.stringify({ entry_id: 'ab'.repeat(32), signature: '{"payload":"e30=","payloadType":"x","signatures":[]}', certificate: null, key_id: 'cd'.repeat(32) }));
  writeFileSync(join(dir, 'ci.token'), 'a'.repeat(32) + '\n', { mode: 0o600 });
  const base = ['verify-remote', api.url, 'app.tar', '--signature', 'app.sig.json', '--token-file', 'ci.token'];
  for (const flags of [['--certificate-identity', 'alice@example.com'], ['--certificate-oidc-issuer-regexp', '^https://'], ['--certificate-identity-regexp', '^a', '--certificate-oidc-issuer', 'https://x']]) {
    const r = await cli([...base, ...flags], { cwd: dir });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`app\\.sig\\.json is key-signed \\(it holds no certificate\\): --${flags.filter((f) => f.startsWith('--')).map((f) => f.slice(2)).join(', --')} cannot be checked`));
    assert.match(r.stderr, /\[ERR_KEYLESS_NO_CERTIFICATE\]/);
  }
  assert.equal(api.calls(), 0, 'refused before asking the daemon');
  for (const [a, b] of [['--certificate-identity', '--certificate-identity-regexp'], ['--certificate-oidc-issuer', '--certificate-oidc-issuer-regexp']] as const) {
    const r = await cli([...base, a, 'x', b, 'y'], { cwd: dir });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`give ${a} or ${b}, not both \\[ERR_USAGE_ARGUMENT\\]`));
  }
  assert.equal(api.calls(), 0);
  // Without constraints the daemon's answer stands, and its signer is printed escaped.
  const ok = await cli(base, { cwd: dir });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.includes('\u001b'), false);
  assert.match(ok.stdout, /^valid: sha256:[0-9a-f]{64} signed by ci.*evil, log index 4\n$/);
  assert.equal(ok.stderr, '');
  chmodSync(join(dir, 'ci.token'), 0o644);
  const loose = await cli(base, { cwd: dir });
  assert.equal(loose.code, 0, loose.stderr);
  assert.match(loose.stderr, /custody: warning: ci\.token is readable by group or others; chmod 600 it/);
});

test('secrets put: an empty value is refused unless --allow-empty; a terminal on stdin is refused (no prompt)', async (t) => {
  const cwd = tmpDir(t);
  const env = { CUSTODY_PASSPHRASE: 'correct horse battery staple' };
  const empty = await spawnCli(['secrets', 'put', '--store', 'st', 'db.password'], { cwd, env, input: '' });
  assert.equal(empty.code, 2, empty.stderr);
  assert.match(empty.stderr, /the value for db\.password is empty \(stdin gave no bytes\) \[ERR_SECRETS_VALUE_EMPTY\]/);
  assert.deepEqual(listTree(cwd), [], 'no store or keyring created');
  writeFileSync(join(cwd, 'empty.txt'), '');
  const fromFile = await cli(['secrets', 'put', '--store', 'st', 'db.password', '--from-file', 'empty.txt'], { cwd, env });
  assert.equal(fromFile.code, 2);
  assert.match(fromFile.stderr, /\[ERR_SECRETS_VALUE_EMPTY\]/);
  assert.deepEqual(listTree(cwd), ['empty.txt']);
  const allowed = await spawnCli(['secrets', 'put', '--store', 'st', 'db.password', '--allow-empty'], { cwd, env, input: '' });
  assert.equal(allowed.code, 0, allowed.stderr);
  const got = await cli(['secrets', 'get', '--store', 'st', 'db.password'], { cwd, env });
  assert.deepEqual([got.code, got.stdout], [0, '']);

  // A real terminal on stdin, through script(1)'s pseudo-terminal.
  const script = spawnSync('script', ['--version'], { encoding: 'utf8' });
  if (script.status !== 0) {
    t.diagnostic('SKIPPED the terminal case: script(1) (util-linux) is not installed');
    process.stderr.write('# SKIPPED secrets put on a terminal: script(1) is not installed\n');
    return;
  }
  const cmd = [process.execPath, '--import', TSX_LOADER, CLI_MAIN, 'secrets', 'put', '--store', 'tty', 'x'].map((a) => `'${a}'`).join(' ');
  const tty = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd, env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], input: '', timeout: 60_000 });
  assert.equal(tty.status, 2, tty.stdout + tty.stderr);
  assert.match(tty.stdout, /the secret is read from stdin, which is a terminal; custody does not prompt for it \[ERR_SECRETS_STDIN_TERMINAL\]/);
  assert.equal(existsSync(join(cwd, 'tty')), false);
});

test('token list|revoke and identity list|revoke create nothing and need the store; token create and identity add need the data directory', async (t) => {
  const dir = tmpDir(t);
  for (const argv of [['token', 'list'], ['token', 'revoke', '0123456789abcdef'], ['identity', 'list'], ['identity', 'revoke', 'scanner'], ['identity', 'revoke', '--oidc', 'a@example.com']]) {
    const r = await cli([...argv, '--data', 'typo'], { cwd: dir });
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /the data directory \/.*\/typo \(--data\) does not exist \[ERR_AUTH_DATA_MISSING\]\ncustody: hint: pass --data DIR/);
    // The default data directory is named as such.
    const dflt = await cli(argv, { cwd: dir });
    assert.equal(dflt.code, 2);
    assert.match(dflt.stderr, /custody-data \(the default \.\/custody-data\) does not exist \[ERR_AUTH_DATA_MISSING\]/);
  }
  mkdirSync(join(dir, 'empty'));
  const noStore = await cli(['token', 'list', '--data', 'empty'], { cwd: dir });
  assert.equal(noStore.code, 2);
  assert.match(noStore.stderr, /no auth store at \/.*\/empty\/auth\.db \(--data\) \[ERR_AUTH_STORE_MISSING\]\ncustody: hint: pass --data DIR/);
  const noStoreEnv = await cli(['identity', 'list'], { cwd: dir, env: { CUSTODY_DATA: join(dir, 'empty') } });
  assert.match(noStoreEnv.stderr, /\(\$CUSTODY_DATA\) \[ERR_AUTH_STORE_MISSING\]/);
  for (const argv of [['token', 'create', '--name', 'ci', '--scope', 'sign'], ['identity', 'add', 'scanner', '--key', 'ab'.repeat(32), '--scope', 'sign']]) {
    const r = await cli([...argv, '--data', 'typo'], { cwd: dir });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /\[ERR_AUTH_DATA_MISSING\]/);
  }
  assert.deepEqual(listTree(dir), ['empty']);
  // With the directory there, create makes the store, and list reads it.
  const made = await cli(['token', 'create', '--data', 'empty', '--name', 'ci', '--scope', 'sign'], { cwd: dir });
  assert.equal(made.code, 0, made.stderr);
  const listed = await cli(['token', 'list', '--data', 'empty'], { cwd: dir });
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, / ci {2}expires /);
});

test('sign-manifest --log writes the manifest and its proof together; without --log a stale OUT.tlog-proof is refused', async (t) => {
  const dir = tmpDir(t);
  const token = 'test-token-0123456789';
  const server = await startLogServer({ dataDir: join(dir, 'logdata'), origin: 'example.test/log', tokens: [new TextEncoder().encode(token)], host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) });
  t.after(() => server.close());
  const run = (...argv: string[]) => cli(argv, { cwd: dir, env: { CUSTODY_LOG_TOKEN: token } });
  assert.equal((await run('keygen', '--output', 'k/a.pem')).code, 0);
  mkdirSync(join(dir, 'art'));
  writeFileSync(join(dir, 'art', 'vmlinuz'), 'kernel bytes');
  assert.equal((await run('manifest', 'create', '--artifacts', 'art', '--channel', 'stable', '--arch', 'x86_64', '--sequence', '1', '--output', 'm0.json')).code, 0);
  // The proof cannot be written (a directory holds its name): the manifest is not written either.
  mkdirSync(join(dir, 'm1.json.tlog-proof'));
  let r = await run('sign-manifest', '--manifest', 'm0.json', '--key', 'k/a.pem', '--output', 'm1.json', '--log', server.url);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(existsSync(join(dir, 'm1.json')), false, 'no manifest without its proof');
  rmSync(join(dir, 'm1.json.tlog-proof'), { recursive: true });
  r = await run('sign-manifest', '--manifest', 'm0.json', '--key', 'k/a.pem', '--output', 'm1.json', '--log', server.url);
  assert.equal(r.code, 0, r.stderr);
  assert.match(readFileSync(join(dir, 'm1.json.tlog-proof'), 'utf8'), /^c2sp\.org\/tlog-proof@v1\n/);
  // Another body to the same OUT without --log: the proof beside it would be m1's old one; refused, nothing changed.
  assert.equal((await run('manifest', 'create', '--artifacts', 'art', '--channel', 'stable', '--arch', 'x86_64', '--sequence', '2', '--output', 'n0.json')).code, 0);
  const before = readFileSync(join(dir, 'm1.json'));
  const oldProof = readFileSync(join(dir, 'm1.json.tlog-proof'));
  r = await run('sign-manifest', '--manifest', 'n0.json', '--key', 'k/a.pem', '--output', 'm1.json');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /m1\.json\.tlog-proof exists and would be left beside the new m1\.json without --log \[ERR_MANIFEST_PROOF_STALE\]/);
  assert.deepEqual(readFileSync(join(dir, 'm1.json')), before);
  assert.deepEqual(readFileSync(join(dir, 'm1.json.tlog-proof')), oldProof);
  // With --log it is replaced by this manifest's proof.
  r = await run('sign-manifest', '--manifest', 'n0.json', '--key', 'k/a.pem', '--output', 'm1.json', '--log', server.url, '--log-key', server.vkey);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /logged at index 2 of example\.test\/log/); // 0: the attempt whose write failed
  assert.notDeepEqual(readFileSync(join(dir, 'm1.json.tlog-proof')), oldProof);
});

test('log monitor retries a log answering 503 or 429 (as network errors) and stops on a malformed answer', { timeout: 120_000 }, async (t) => {
  const dir = tmpDir(t);
  const log = await startLogServer({ dataDir: join(dir, 'logdata'), origin: 'example.test/log', tokens: [new TextEncoder().encode('test-token-0123456789')], host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) });
  t.after(() => log.close());
  const upstream = new URL(log.url);
  // A front that answers the first checkpoint requests 503, then 429, then passes everything to the log.
  const script = [503, 429];
  let badRequest = false;
  const front = createServer((req, res) => {
    const refuse = badRequest ? 400 : req.url!.endsWith('/checkpoint') ? script.shift() : undefined;
    if (refuse !== undefined) {
      res.writeHead(refuse, { 'content-type': 'application/json', ...(refuse === 429 ? { 'retry-after': '1' } : {}) });
      res.end(JSON.stringify({ ok: false, code: refuse === 429 ? 'ERR_HTTP_RATE_LIMITED' : 'ERR_HTTP_INTERNAL', message: 'busy' }));
      return;
    }
    const p = httpRequest({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode!, up.headers);
      up.pipe(res);
    });
    req.pipe(p);
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  t.after(() => front.close());
  const url = `http://127.0.0.1:${(front.address() as AddressInfo).port}${upstream.pathname}`;

  const child = spawn(process.execPath, ['--import', TSX_LOADER, CLI_MAIN, 'log', 'monitor', url, '--key', log.vkey, '--interval', '1'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const closed = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  t.after(() => child.kill('SIGKILL'));
  while (!/^verified /m.test(out)) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(out, /^verified example\.test\/log size 0/m, err);
  assert.match(err, /HTTP 503.*; retrying in 1 s\n/);
  assert.match(err, /HTTP 429.*; retrying in 1 s\n/);
  // A malformed answer (400, not ours) is fatal: exit 3 with ERR_LOG_RESPONSE.
  badRequest = true;
  assert.equal(await closed, 3, err);
  assert.match(err, /HTTP 400 ERR_HTTP_INTERNAL: busy \[ERR_LOG_RESPONSE\]/);
});

test('publish with a wrong admin token exits 1 with the daemon\'s code (not ERR_PROVIDER_RESPONSE exit 3); trust init checks thresholds first', async (t) => {
  const dir = tmpDir(t);
  const d = await start(t, join(dir, 'data'));
  writeFileSync(join(dir, 'vmlinuz'), 'kernel');
  writeFileSync(join(dir, 'bad.token'), 'not-the-admin-token-0123456789\n', { mode: 0o600 });
  const r = await cli(['publish', d.url, '--token-file', 'bad.token', '--channel', 'stable', '--arch', 'x86_64', 'vmlinuz'], { cwd: dir });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /HTTP 401: .* \[ERR_PROVIDER_UNAUTHORIZED\]\ncustody: hint: send `Authorization: Bearer <token>`/);
  assert.doesNotMatch(r.stderr, /retry/);
  // The right token still publishes.
  const ok = await cli(['publish', d.url, '--token-file', join(d.dataDir, 'admin.token'), '--channel', 'stable', '--arch', 'x86_64', 'vmlinuz'], { cwd: dir });
  assert.equal(ok.code, 0, ok.stderr);

  for (const k of ['a', 'b', 'c']) assert.equal((await cli(['keygen', '--output', `k/${k}.pem`], { cwd: dir })).code, 0);
  const keys = ['--key', 'k/a.pub', '--key', 'k/b.pub', '--key', 'k/c.pub'];
  for (const [flags, msg] of [
    [['--threshold', '5'], /--threshold 5: expected 1 to the 3 distinct --key given/],
    [['--root-threshold', '4'], /--root-threshold 4: expected 1 to the 3 distinct --key given/],
    [['--manifest-key', 'k/a.pub', '--manifest-key', 'k/a.pub', '--manifest-threshold', '2'], /--manifest-threshold 2: expected 1 to the 1 distinct --manifest-key given/],
  ] as const) {
    const tr = await cli(['trust', 'init', ...keys, ...flags, '--expires', '365d', '--sign', 'k/a.pem', '--output', 'root.json'], { cwd: dir });
    assert.equal(tr.code, 2, tr.stderr);
    assert.match(tr.stderr, msg);
    assert.match(tr.stderr, /\[ERR_USAGE_ARGUMENT\]/);
    assert.equal(existsSync(join(dir, 'root.json')), false);
  }
  const good = await cli(['trust', 'init', ...keys, '--threshold', '3', '--expires', '365d', '--sign', 'k/a.pem', '--output', 'root.json'], { cwd: dir });
  assert.equal(good.code, 0, good.stderr);
});
