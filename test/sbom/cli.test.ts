/**
 * `custody sbom`: transcripts (stdout, stderr, exit code, files left behind). SOURCE_DATE_EPOCH makes two runs
 * byte-identical; `--attest` writes a DSSE envelope that verifyAttestation accepts under the signer's key, whose
 * subjects are the input's files with the digests sha256sum computes and whose predicate is the SBOM written; a
 * refused input writes nothing.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { keysFromPublicKeys, parseJsonl } from '../../src/attest/dsse.ts';
import { verifyAttestation } from '../../src/attest/verify.ts';
import { seedToPrivateKey } from '../../src/keys/key-file.ts';
import { cli, spawnCli } from '../support/cli.ts';
import { listTree, tmpDir } from '../support/tmp.ts';
import { vectorPath } from '../support/vectors.ts';
import { LOCK_V3, coreutils, makeTree } from './fixtures.ts';

const ENV = { SOURCE_DATE_EPOCH: '1700000000' };

test('custody sbom DIR: SPDX by default, byte-identical for the same SOURCE_DATE_EPOCH, --name and --json', async (t) => {
  const dir = tmpDir(t);
  const tree = join(dir, 'tree');
  makeTree(tree);
  const a = await cli(['sbom', 'tree', '--output', 'a.spdx.json'], { cwd: dir, env: ENV });
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, `wrote ${join(dir, 'a.spdx.json')}: SPDX 2.3, 6 files (1 symlinks or special files left out)\n`);
  const b = await cli(['sbom', 'tree', '--output', 'b.spdx.json', '--json'], { cwd: dir, env: ENV });
  assert.deepEqual(JSON.parse(b.stdout), { ok: true, output: join(dir, 'b.spdx.json'), format: 'spdx', kind: 'directory', files: 6, packages: 0, skipped: 1 });
  assert.ok(readFileSync(join(dir, 'a.spdx.json')).equals(readFileSync(join(dir, 'b.spdx.json'))), 'two runs are byte-identical');
  const c = await cli(['sbom', 'tree', '--output', 'c.cdx.json', '--format', 'cyclonedx', '--name', 'release-7'], { cwd: dir, env: ENV });
  assert.equal(c.code, 0, c.stderr);
  const bom = JSON.parse(readFileSync(join(dir, 'c.cdx.json'), 'utf8')) as { metadata: { component: { name: string }; timestamp: string } };
  assert.equal(bom.metadata.component.name, 'release-7');
  assert.equal(bom.metadata.timestamp, '2023-11-14T22:13:20.000Z');
});

test('custody sbom DIR --attest: a DSSE in-toto attestation that verifies, subjects = the files with sha256sum digests', async (t) => {
  const dir = tmpDir(t);
  const tree = join(dir, 'tree');
  const names = makeTree(tree);
  writeFileSync(join(dir, 'seed'), 'sbom-signer\n');
  const r = await cli(['sbom', 'tree', '--output', 'tree.spdx.json', '--attest', '--seed-file', 'seed'], { cwd: dir, env: ENV });
  assert.equal(r.code, 0, r.stderr);
  const key = seedToPrivateKey('sbom-signer');
  const envelopes = parseJsonl(readFileSync(join(dir, 'tree.spdx.json.intoto.jsonl')));
  assert.equal(envelopes.length, 1);
  const v = verifyAttestation(envelopes[0]!, keysFromPublicKeys([key.publicKey]));
  assert.equal(v.statement.predicateType, 'https://spdx.dev/Document');
  assert.deepEqual(v.statement.predicate, JSON.parse(readFileSync(join(dir, 'tree.spdx.json'), 'utf8')));
  const sums = coreutils('sha256sum', tree, names);
  assert.deepEqual(v.statement.subject, names.map((n) => ({ name: n, digest: { sha256: sums.get(n) } })));
  // Another key does not verify it.
  assert.throws(() => verifyAttestation(envelopes[0]!, keysFromPublicKeys([seedToPrivateKey('someone-else').publicKey])), { code: 'ERR_DSSE_THRESHOLD_UNMET' });
});

test('custody sbom LOCKFILE --format cyclonedx --attest: the subject is the lockfile itself', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify(LOCK_V3, null, 2));
  writeFileSync(join(dir, 'seed'), 'sbom-signer\n');
  const r = await cli(['sbom', 'package-lock.json', '--format', 'cyclonedx', '--output', 'bom.json', '--attest', '--seed-file', 'seed', '--attestation-output', 'bom.intoto.jsonl'], { cwd: dir, env: ENV });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /CycloneDX 1\.6, 6 packages from lockfileVersion 3\n.*bom\.intoto\.jsonl: in-toto attestation signed by [0-9a-f]{64}\n$/);
  const v = verifyAttestation(parseJsonl(readFileSync(join(dir, 'bom.intoto.jsonl')))[0]!, keysFromPublicKeys([seedToPrivateKey('sbom-signer').publicKey]));
  assert.equal(v.statement.predicateType, 'https://cyclonedx.org/bom');
  assert.deepEqual(v.statement.subject, [{ name: 'package-lock.json', digest: { sha256: coreutils('sha256sum', dir, ['package-lock.json']).get('package-lock.json') } }]);
});

test('custody sbom PKG.psp: the package is verified and described; --attest names the package file', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'seed'), 'sbom-signer\n');
  const psp = vectorPath('pspf', '04-seeded.psp');
  const r = await cli(['sbom', psp, '--output', 'pkg.spdx.json', '--attest', '--seed-file', 'seed'], { cwd: dir, env: ENV });
  assert.equal(r.code, 0, r.stderr);
  const v = verifyAttestation(parseJsonl(readFileSync(join(dir, 'pkg.spdx.json.intoto.jsonl')))[0]!, keysFromPublicKeys([seedToPrivateKey('sbom-signer').publicKey]));
  assert.deepEqual(v.statement.subject.map((s) => s.name), ['04-seeded.psp']);
  assert.equal(v.statement.subject[0]!.digest['sha256'], '1975bd452075c6181c68ec0eaef3aa5c246759138cd089b714ec714f30100064');
});

test('custody sbom refusals: coded errors, exit codes, and nothing written', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'hostile-lock.json'), JSON.stringify({ lockfileVersion: 3, packages: { '': {}, 'node_modules/../../../etc/passwd': { version: '1.0.0' } } }));
  writeFileSync(join(dir, 'notes.txt'), 'plain text');
  writeFileSync(join(dir, 'seed'), 'sbom-signer\n');
  const before = listTree(dir);
  const rows: Array<[string[], number, string]> = [
    [['sbom', 'hostile-lock.json', '--output', 'out.json', '--attest', '--seed-file', 'seed'], 1, 'ERR_SBOM_LOCKFILE_NAME'],
    [['sbom', 'notes.txt', '--output', 'out.json'], 2, 'ERR_SBOM_INPUT_KIND'],
    [['sbom', 'missing-dir', '--output', 'out.json'], 3, 'ERR_IO_NOT_FOUND'],
    [['sbom', '.', '--output', 'out.json', '--format', 'swid'], 2, 'ERR_USAGE_ARGUMENT'],
    [['sbom', '.', '--output', 'out.json', '--seed-file', 'seed'], 2, 'ERR_USAGE_ARGUMENT'],
    [['sbom', '.', '--output', 'out.json', '--attest'], 2, 'ERR_USAGE_ARGUMENT'],
    [['sbom', '.'], 2, 'ERR_USAGE_ARGUMENT'],
  ];
  for (const [argv, code, err] of rows) {
    const r = await cli(argv, { cwd: dir, env: ENV });
    assert.equal(r.code, code, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^custody: error: .*\\[${err}\\]\\ncustody: hint: `), argv.join(' '));
    assert.equal(r.stdout, '');
  }
  const bad = await cli(['sbom', '.', '--output', 'out.json'], { cwd: dir, env: { SOURCE_DATE_EPOCH: 'yesterday' } });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /SOURCE_DATE_EPOCH.*\[ERR_CONFIG_INVALID\]/);
  assert.match(readFileSync(join(dir, 'hostile-lock.json'), 'utf8'), /etc\/passwd/);
  assert.deepEqual(listTree(dir), before, 'nothing was written');
});

test('custody sbom --attest whose attestation cannot be written: exit 3, the earlier SBOM intact byte for byte, no temporary file left', async (t) => {
  const dir = tmpDir(t);
  makeTree(join(dir, 'tree'));
  writeFileSync(join(dir, 'seed'), 'sbom-signer\n');
  writeFileSync(join(dir, 'out.spdx.json'), 'the SBOM of last week\n');
  mkdirSync(join(dir, 'att-dir'));
  const before = listTree(dir);
  const r = await cli(['sbom', 'tree', '--output', 'out.spdx.json', '--attest', '--seed-file', 'seed', '--attestation-output', 'att-dir'], { cwd: dir, env: ENV });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /att-dir: it is a directory \[ERR_IO_WRITE_FAILED\]/);
  assert.equal(readFileSync(join(dir, 'out.spdx.json'), 'utf8'), 'the SBOM of last week\n');
  assert.deepEqual(listTree(dir), before, 'nothing else was written or removed');
});

test('custody sbom as a real child process, as a user runs it', async (t) => {
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify(LOCK_V3));
  const r = await spawnCli(['sbom', 'package-lock.json', '--output', 'sbom.spdx.json'], { cwd: dir, env: ENV });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const doc = JSON.parse(readFileSync(join(dir, 'sbom.spdx.json'), 'utf8')) as { name: string; packages: unknown[] };
  assert.equal(doc.name, 'demo-app');
  assert.equal(doc.packages.length, 7);
});
