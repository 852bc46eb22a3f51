/**
 * The promotion gate and the policy on fetch, against a real loopback `custody serve` (in-process daemon, real data
 * directory):
 * - `custody promote --provider` refuses a set in which one artifact lacks evidence (the refusal names the artifact
 *   and the rule) and publishes nothing; with the evidence complete it publishes the set, and the provider serves
 *   the attestations at /<channel>/<arch>/attestations;
 * - `custody promote --to INCOMING` writes the provider's incoming layout in one rename; a rescan releases it with
 *   its attestations;
 * - `custody fetch --policy` refuses a release whose attestations fail the policy, leaving nothing in DIR, and
 *   accepts one that passes;
 * - a promotion directory that is not flat is ERR_PROMOTE_LAYOUT.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SLSA_V1, attest, jsonl, provenance } from '../support/attest.ts';
import { cli } from '../support/cli.ts';
import { key } from '../support/fixtures.ts';
import { tmpDir } from '../support/tmp.ts';
import { bearer, get, serveChild, start } from '../provider/harness.ts';

const SIGNER = key('promote-signer');
const KERNEL = 'kernel bytes 6.12';
const APP = 'app tarball bytes';

function nowish(): string {
  return new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

const POLICY = JSON.stringify({
  version: 1,
  required_predicate_types: [SLSA_V1],
  trusted_builders: ['https://builder.example/*'],
  max_age: '1d',
});

/** promotionDir writes artifacts and provenance for those named in `attested`. */
function promotionDir(dir: string, attested: string[]): string {
  const from = join(dir, 'build');
  mkdirSync(from, { recursive: true });
  writeFileSync(join(from, 'vmlinuz'), KERNEL);
  writeFileSync(join(from, 'app-1.2.tar.gz'), APP);
  const bytes: Record<string, string> = { vmlinuz: KERNEL, 'app-1.2.tar.gz': APP };
  const subjects = Object.fromEntries(attested.map((n) => [n, bytes[n]!]));
  writeFileSync(join(from, 'build.intoto.jsonl'), jsonl(attest(subjects, SLSA_V1, provenance({ finishedOn: nowish() }), [SIGNER])));
  return from;
}

test('promote refuses a set with one artifact lacking evidence (nothing published), then publishes the complete set', { timeout: 120_000 }, async (t) => {
  const dir = tmpDir(t);
  const d = await start(t, join(dir, 'data'));
  writeFileSync(join(dir, 'policy.json'), POLICY);
  writeFileSync(join(dir, 'signer.pub'), SIGNER.publicKey.toPem());
  const token = join(d.dataDir, 'admin.token');
  const args = ['promote', '--channel', 'stable', '--arch', 'x86_64', '--policy', 'policy.json', '--key', 'signer.pub', '--provider', d.url, '--token-file', token];

  const from = promotionDir(dir, ['app-1.2.tar.gz']);
  const no = await cli([...args, '--from', from], { cwd: dir });
  assert.equal(no.code, 1, no.stderr);
  assert.match(no.stderr, /vmlinuz: policy rule "required_predicate_types" refused: .* \[ERR_POLICY_PREDICATE_MISSING\]/);
  assert.equal(no.stdout, '', 'nothing uploaded');
  assert.equal((await get(d, '/stable/x86_64/manifest.json')).status, 404);
  assert.equal((await get(d, '/stable/x86_64/attestations')).status, 404);
  assert.deepEqual((await get(d, '/')).json().releases, []);

  // An untrusted builder refuses too, naming the rule.
  writeFileSync(join(from, 'build.intoto.jsonl'), jsonl(attest({ vmlinuz: KERNEL, 'app-1.2.tar.gz': APP }, SLSA_V1, provenance({ builder: 'https://evil.example/ci', finishedOn: nowish() }), [SIGNER])));
  const evil = await cli([...args, '--from', from, '--json'], { cwd: dir });
  assert.equal(evil.code, 1);
  const ej = JSON.parse(evil.stdout) as { code: string; details: { refused: Array<{ artifact: string; rules: string[] }> } };
  assert.equal(ej.code, 'ERR_POLICY_UNTRUSTED_BUILDER');
  assert.deepEqual(ej.details.refused.map((r) => r.artifact).sort(), ['app-1.2.tar.gz', 'vmlinuz']);
  assert.equal((await get(d, '/stable/x86_64/manifest.json')).status, 404);

  const ok = promotionDir(join(dir, 'ok'), ['app-1.2.tar.gz', 'vmlinuz']);
  const yes = await cli([...args, '--from', ok, '--version', '1.2'], { cwd: dir });
  assert.equal(yes.code, 0, yes.stderr);
  assert.match(yes.stdout, /^ACCEPTED vmlinuz {2}sha256:/m);
  assert.match(yes.stdout, /^released stable\/x86_64 sequence \d+/m);
  const m = (await get(d, '/stable/x86_64/manifest.json')).json() as { version: string; artifacts: Record<string, unknown> };
  assert.equal(m.version, '1.2');
  assert.deepEqual(Object.keys(m.artifacts).sort(), ['app-1.2.tar.gz', 'kernel']);
  const att = await get(d, '/stable/x86_64/attestations');
  assert.equal(att.status, 200);
  assert.equal(att.body.toString(), readFileSync(join(ok, 'build.intoto.jsonl'), 'utf8'));
  assert.match(JSON.stringify((await get(d, '/')).json().releases), /"attestations_url":"\/stable\/x86_64\/attestations"/);

  // fetch --policy: the release passes the policy it was promoted under …
  const out = join(dir, 'boot');
  const fetched = await cli(['fetch', d.url, '--channel', 'stable', '--arch', 'x86_64', '--root-fingerprint', d.identity.fingerprint, '--output', out, '--policy', 'policy.json', '--key', 'signer.pub'], { cwd: dir });
  assert.equal(fetched.code, 0, fetched.stderr);
  assert.match(fetched.stdout, /vmlinuz {2}policy ok/);
  assert.equal(readFileSync(join(out, 'vmlinuz'), 'utf8'), KERNEL);

  // … and is refused by a stricter one, before anything is written: DIR is not even created.
  writeFileSync(join(dir, 'strict.json'), JSON.stringify({ version: 1, required_predicate_types: [SLSA_V1, 'https://spdx.dev/Document'] }));
  const out2 = join(dir, 'boot2');
  const refused = await cli(['fetch', d.url, '--channel', 'stable', '--arch', 'x86_64', '--root-fingerprint', d.identity.fingerprint, '--output', out2, '--policy', 'strict.json', '--key', 'signer.pub'], { cwd: dir });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /policy rule "required_predicate_types" refused: no verified attestation of type "https:\/\/spdx\.dev\/Document" .*\[ERR_POLICY_PREDICATE_MISSING\]/);
  assert.equal(existsSync(out2), false, 'nothing left behind');
  // Into a DIR that already holds a fetched release: it stays exactly as it was.
  const before = readdirSync(out).sort();
  const again = await cli(['fetch', d.url, '--channel', 'stable', '--arch', 'x86_64', '--root-fingerprint', d.identity.fingerprint, '--output', out, '--policy', 'strict.json', '--key', 'signer.pub'], { cwd: dir });
  assert.equal(again.code, 1);
  assert.deepEqual(readdirSync(out).sort(), before);

  // Without --key, the provider's own root does not vouch for our signer: the evidence is bad, not missing.
  const untrusted = await cli(['fetch', d.url, '--channel', 'stable', '--arch', 'x86_64', '--root-fingerprint', d.identity.fingerprint, '--output', join(dir, 'boot3'), '--policy', 'policy.json'], { cwd: dir });
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.stderr, /\[ERR_DSSE_THRESHOLD_UNMET\]/);
  assert.equal(existsSync(join(dir, 'boot3')), false);
});

test('promote --to writes the incoming layout in one rename; serve releases it with its attestations', { timeout: 120_000 }, async (t) => {
  const dir = tmpDir(t);
  const d = await start(t, join(dir, 'data'));
  writeFileSync(join(dir, 'policy.json'), POLICY);
  writeFileSync(join(dir, 'signer.pub'), SIGNER.publicKey.toPem());
  const from = promotionDir(dir, ['app-1.2.tar.gz', 'vmlinuz']);
  const args = ['promote', '--from', from, '--channel', 'testing', '--arch', 'aarch64', '--policy', 'policy.json', '--key', 'signer.pub', '--to', d.incomingDir];
  const r = await cli([...args, '--version', '7'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const target = join(d.incomingDir, 'testing', 'aarch64');
  assert.deepEqual(readdirSync(target).sort(), ['.version', 'app-1.2.tar.gz', 'build.intoto.jsonl', 'vmlinuz']);
  assert.deepEqual(readdirSync(join(d.incomingDir, 'testing')), ['aarch64'], 'no staging directory left');
  const rescan = await fetch(`${d.url}/admin/v1/rescan`, { method: 'POST', headers: bearer(d) });
  assert.equal(rescan.status, 200);
  const m = (await get(d, '/testing/aarch64/manifest.json')).json() as { version: string; artifacts: Record<string, unknown> };
  assert.equal(m.version, '7');
  assert.deepEqual(Object.keys(m.artifacts).sort(), ['app-1.2.tar.gz', 'kernel'], 'the attestation file is not an artifact');
  assert.equal((await get(d, '/testing/aarch64/attestations')).body.toString(), readFileSync(join(from, 'build.intoto.jsonl'), 'utf8'));
  // Promoting again replaces the directory as a whole.
  const again = await cli(args, { cwd: dir });
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(readdirSync(target).sort(), ['app-1.2.tar.gz', 'build.intoto.jsonl', 'vmlinuz']);
  assert.deepEqual(readdirSync(join(d.incomingDir, 'testing')), ['aarch64']);

  // A directory that is not flat, or holds no artifact, is refused before anything is judged.
  mkdirSync(join(from, 'sub'));
  const nested = await cli(args, { cwd: dir });
  assert.equal(nested.code, 1);
  assert.match(nested.stderr, /is not a regular file .* \[ERR_PROMOTE_LAYOUT\]/);
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  const none = await cli(['promote', '--from', empty, ...args.slice(3)], { cwd: dir });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /holds no artifact to promote \[ERR_PROMOTE_LAYOUT\]/);
});

test('with custody serve --workers 2, every worker serves a promoted release\'s attestations', { timeout: 180_000 }, async (t) => {
  const dir = tmpDir(t);
  const s = await serveChild(t, dir, ['--data', join(dir, 'data'), '--workers', '2']);
  writeFileSync(join(dir, 'policy.json'), POLICY);
  writeFileSync(join(dir, 'signer.pub'), SIGNER.publicKey.toPem());
  const from = promotionDir(dir, ['app-1.2.tar.gz', 'vmlinuz']);
  const r = await cli(['promote', '--from', from, '--channel', 'stable', '--arch', 'x86_64', '--policy', 'policy.json', '--key', 'signer.pub', '--provider', s.info.url, '--token-file', s.info.token_file], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const want = readFileSync(join(from, 'build.intoto.jsonl'), 'utf8');
  const workers = new Set<string>();
  // Fresh connections are spread over the workers; each must serve the release the leader published.
  for (let i = 0; i < 40 && workers.size < 2; i++) {
    const a = await get(s.info, '/stable/x86_64/attestations', { headers: { connection: 'close' } });
    assert.equal(a.status, 200);
    assert.equal(a.body.toString(), want);
    workers.add(a.headers.get('x-custody-worker') ?? '?');
  }
  assert.equal(workers.size, 2, `answers came from workers ${[...workers].join(', ')}`);
});
