/**
 * Fixes of the CLI review of session 10 (briefs/s10/fix-cli.md), each against real files, in-process CLI runs, real
 * child processes or loopback servers: every refusal asserted by its exact code and exit code, and what a refused
 * command must not have created.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PrivateKey } from '../../src/crypto/index.ts';
import { formatNoteKeyText, noteKeyId } from '../../src/note/note.ts';
import { REPO_ROOT, cli } from '../support/cli.ts';
import { listTree, tmpDir } from '../support/tmp.ts';

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
