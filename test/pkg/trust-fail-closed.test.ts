/**
 * Package trust fails closed (issue 8 item 5): with no trusted key, allowed-keys variable or trust root, both
 * `custody verify-package`/`custody verify` and `custody extract` refuse a valid package with
 * ERR_PKG_UNTRUSTED_SIGNER (exit 1, a hint naming the three ways and --allow-any-signer) and write nothing; each of
 * the three ways accepts it ("authentic"), and `--allow-any-signer` accepts it explicitly ("intact, signer not
 * trusted"). The library's `verifyPackageFile` and `extractPackage` take the same table through their required
 * `trust` option.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PublicKey } from '../../src/crypto/index.ts';
import { extractPackage, openPackage, verifyPackageFile, type PackageTrustOption } from '../../src/pkg/index.ts';
import { isKeyAuthorized, MANIFEST_SIGNER_ROLE, parseRoot, verifyPinnedRoot } from '../../src/trust/root.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { cli, type Transcript } from '../support/cli.ts';
import { listTree, tmpDir } from '../support/tmp.ts';

const NOW = new Date();

interface Fixture {
  dir: string;
  signer: PublicKey;
}

/** fixture makes a signing key, a trust root authorizing it (targets role) and a package signed by it. */
async function fixture(dir: string): Promise<Fixture> {
  const ok = async (...argv: string[]): Promise<void> => {
    const r = await cli(argv, { cwd: dir, now: NOW });
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
  };
  await ok('keygen', '--output', 'k/signer.pem');
  await ok('trust', 'init', '--threshold', '1', '--key', 'k/signer.pub', '--sign', 'k/signer.pem', '--output', 'root.json');
  writeFileSync(join(dir, 'hello.txt'), 'hello\n');
  await ok('pack', '--name', 'demo', '--version', '1.0.0', '--slot', 'hello.txt', '--key', 'k/signer.pem', '--output', 'app.psp');
  return { dir, signer: PublicKey.fromPem(readFileSync(join(dir, 'k/signer.pub'), 'utf8')) };
}

/** WAYS are the CLI rows: extra argv and environment, and the verdict expected. */
function ways(f: Fixture): Array<{ name: string; argv: string[]; env: Record<string, string>; verdict: RegExp }> {
  return [
    { name: '--trusted-key', argv: ['--trusted-key', f.signer.hex], env: {}, verdict: /authentic \(signer trusted by pinned key\)/ },
    { name: 'CUSTODY_ALLOWED_KEYS', argv: [], env: { CUSTODY_ALLOWED_KEYS: f.signer.hex }, verdict: /authentic \(signer trusted by pinned key\)/ },
    { name: '--trust root.json', argv: ['--trust', 'root.json'], env: {}, verdict: /authentic \(signer trusted by trust root key\)/ },
    { name: '--allow-any-signer', argv: ['--allow-any-signer'], env: {}, verdict: /intact, signer not trusted/ },
  ];
}

function assertUntrusted(r: Transcript, what: string): void {
  assert.equal(r.code, 1, `${what}: ${r.stderr}`);
  assert.equal(r.stdout, '', what);
  assert.match(r.stderr, /^custody: error: the package is intact, but no trusted key, allowed-keys list or trust root is configured .*\[ERR_PKG_UNTRUSTED_SIGNER\]$/m, what);
  const hint = /^custody: hint: (.*)$/m.exec(r.stderr)?.[1] ?? '';
  for (const way of ['--trusted-key', 'CUSTODY_ALLOWED_KEYS', '--trust ROOT.json', '--allow-any-signer']) assert.ok(hint.includes(way), `${what}: hint names ${way}: ${hint}`);
}

test('CLI: verify-package, verify and extract refuse a package when no trust is configured, and nothing is written', async (t) => {
  const f = await fixture(tmpDir(t));
  const before = listTree(f.dir);
  for (const argv of [['verify-package', 'app.psp'], ['verify', 'app.psp'], ['verify', 'app.psp', '--paranoid'], ['extract', 'app.psp', 'out'], ['extract', 'app.psp', '0', 'one.txt']]) {
    assertUntrusted(await cli(argv, { cwd: f.dir, now: NOW }), argv.join(' '));
  }
  // An empty allow-list is no configuration either.
  assertUntrusted(await cli(['extract', 'app.psp', 'out'], { cwd: f.dir, env: { CUSTODY_ALLOWED_KEYS: ' ' }, now: NOW }), 'blank CUSTODY_ALLOWED_KEYS');
  assert.deepEqual(listTree(f.dir), before, 'refusals wrote nothing');
});

test('CLI: each way to configure trust, and --allow-any-signer, accepts (verify-package, verify, extract)', async (t) => {
  const f = await fixture(tmpDir(t));
  let n = 0;
  for (const w of ways(f)) {
    for (const cmd of ['verify-package', 'verify']) {
      const r = await cli([cmd, 'app.psp', ...w.argv], { cwd: f.dir, env: w.env, now: NOW });
      assert.equal(r.code, 0, `${cmd} ${w.name}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^app\\.psp: ${w.verdict.source}$`, 'm'), `${cmd} ${w.name}`);
    }
    const out = `out${n++}`;
    const x = await cli(['extract', 'app.psp', out, ...w.argv], { cwd: f.dir, env: w.env, now: NOW });
    assert.equal(x.code, 0, `extract ${w.name}: ${x.stderr}`);
    assert.match(x.stdout, new RegExp(`^signer: ${w.verdict.source}`, 'm'), `extract ${w.name}`);
    assert.equal(readFileSync(join(f.dir, out, 'hello.txt'), 'utf8'), 'hello\n');
  }
  // A pinned key that is not the signer still refuses (exit 1); the generic hint names the ways.
  const other = await cli(['extract', 'app.psp', 'other', '--trusted-key', 'ab'.repeat(32)], { cwd: f.dir, now: NOW });
  assert.equal(other.code, 1, other.stderr);
  assert.match(other.stderr, /signed by an untrusted key .*\[ERR_PKG_UNTRUSTED_SIGNER\]/);
  // --allow-any-signer is an alternative to the three ways, not an addition: combining them is a usage error.
  for (const [argv, env] of [
    [['--allow-any-signer', '--trusted-key', f.signer.hex], {}],
    [['--allow-any-signer', '--trust', 'root.json'], {}],
    [['--allow-any-signer'], { CUSTODY_ALLOWED_KEYS: f.signer.hex }],
  ] as const) {
    for (const cmd of [['verify-package', 'app.psp'], ['extract', 'app.psp', 'never']]) {
      const r = await cli([...cmd, ...argv], { cwd: f.dir, env, now: NOW });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--allow-any-signer accepts every signer; it cannot be combined with .*\[ERR_USAGE_ARGUMENT\]/);
    }
  }
  assert.ok(!listTree(f.dir).includes('never'));
});

test('library: verifyPackageFile and extractPackage require trust and fail closed', async (t) => {
  const f = await fixture(tmpDir(t));
  const pkg = join(f.dir, 'app.psp');
  const root = verifyPinnedRoot(parseRoot(readFileSync(join(f.dir, 'root.json'))), { now: NOW });
  const refusing: Array<[string, PackageTrustOption | undefined]> = [
    ['missing (a JavaScript caller)', undefined],
    ['empty policy', {}],
    ['empty key lists', { keys: [], fingerprints: [] }],
    ['another pinned key', { keys: [PublicKey.fromRaw(Buffer.from('ab'.repeat(32), 'hex'))] }],
    // A hook must say yes explicitly: an untyped hook that answers nothing (or junk) refuses.
    ['a hook answering undefined', { authorize: () => undefined } as unknown as PackageTrustOption],
    ['a hook answering null', { authorize: () => Promise.resolve(null) } as unknown as PackageTrustOption],
    ['a hook answering junk', { authorize: () => 'yes' } as unknown as PackageTrustOption],
  ];
  const accepting: Array<[string, PackageTrustOption, string]> = [
    ['pinned key', { keys: [f.signer] }, 'authentic/pinned-key'],
    ['fingerprint (allowed-keys form)', { fingerprints: [f.signer.fingerprint] }, 'authentic/fingerprint'],
    ['trust root hook', { authorize: (k) => isKeyAuthorized(root, MANIFEST_SIGNER_ROLE, k, NOW) && 'trust-root' }, 'authentic/trust-root'],
    ['anySigner', { anySigner: true }, 'self-signed/'],
  ];
  for (const [what, trust] of refusing) {
    await assertRejectsCode(verifyPackageFile(pkg, { trust } as { trust: PackageTrustOption }), 'ERR_PKG_UNTRUSTED_SIGNER');
    const r = await openPackage(pkg);
    try {
      await assertRejectsCode(extractPackage(r, join(f.dir, 'refused'), { trust } as { trust: PackageTrustOption }), 'ERR_PKG_UNTRUSTED_SIGNER');
    } finally {
      await r.close();
    }
    assert.ok(!listTree(f.dir).some((p) => p.startsWith('refused') || p.includes('custody-extract')), what);
  }
  let n = 0;
  for (const [what, trust, verdict] of accepting) {
    const v = await verifyPackageFile(pkg, { level: 'paranoid', trust });
    assert.equal(`${v.trust.kind}/${v.trust.kind === 'authentic' ? v.trust.via : ''}`, verdict, what);
    const r = await openPackage(pkg);
    try {
      const out = join(f.dir, `lib${n++}`);
      const x = await extractPackage(r, out, { trust });
      assert.equal(x.files, 1, what);
      assert.equal(readFileSync(join(out, 'hello.txt'), 'utf8'), 'hello\n');
    } finally {
      await r.close();
    }
  }
});
