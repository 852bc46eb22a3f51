/**
 * `custody attest provenance | predicate | verify` end to end: SLSA v1 provenance made by the real executable,
 * verified through a trust root and through public keys, --append/--force, and the refusal table (tampered payload,
 * wrong key, subject mismatch, bad flags) with nothing written on failure.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeStatement, formatEnvelope, INTOTO_PAYLOAD_TYPE, signEnvelope } from '../../src/attest/index.ts';
import { sha256 } from '../../src/crypto/index.ts';
import { loadPrivateKey } from '../../src/keys/key-file.ts';
import { checkAttestationFile } from '../../src/cli/commands/attest.ts';
import { assertCode } from '../support/assert.ts';
import { cli, spawnCli } from '../support/cli.ts';
import { listTree, tmpDir } from '../support/tmp.ts';

const hex = (b: string | Uint8Array): string => Buffer.from(sha256(b)).toString('hex');
const GIT_DIGEST = hex('source tree');

interface Env {
  dir: string;
  run: (...argv: string[]) => Promise<string>;
  refuse: (code: string, exit: number, ...argv: string[]) => Promise<string>;
}

async function setup(t: Parameters<typeof tmpDir>[0]): Promise<Env> {
  const dir = tmpDir(t);
  const run = async (...argv: string[]): Promise<string> => {
    const r = await cli(argv, { cwd: dir });
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const refuse = async (code: string, exit: number, ...argv: string[]): Promise<string> => {
    const r = await cli(argv, { cwd: dir });
    assert.equal(r.code, exit, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^custody: error: .*\\[${code}\\]$`, 'm'), argv.join(' '));
    return r.stderr;
  };
  for (const k of ['a', 'b', 'root', 'outsider']) await run('keygen', '--output', `k/${k}.pem`);
  await run('trust', 'init', '--root-key', 'k/root.pub', '--manifest-key', 'k/a.pub', '--manifest-key', 'k/b.pub', '--manifest-threshold', '2', '--sign', 'k/root.pem', '--output', 'root.json');
  mkdirSync(join(dir, 'dist'));
  writeFileSync(join(dir, 'dist', 'app.tar'), 'the application');
  writeFileSync(join(dir, 'dist', 'app.sbom.json'), '{"spdxVersion":"SPDX-2.3"}');
  return { dir, run, refuse };
}

const PROVENANCE = (out: string, ...extra: string[]): string[] => [
  'attest', 'provenance',
  '--subject', 'dist/app.tar', '--subject', 'dist/app.sbom.json',
  '--builder-id', 'https://ci.example.org/runners/ubi9',
  '--build-type', 'https://custody.dev/build-types/make/v1',
  '--external-parameters', '{"source":"git+https://git.example.org/app@refs/tags/v1.2.3","target":"release"}',
  '--resolved-dependency', `git+https://git.example.org/app@sha256:${GIT_DIGEST}`,
  '--resolved-dependency', `pkg:npm/%40scope/left-pad@1.3.0@sha512:${'e'.repeat(128)}`,
  '--invocation-id', 'run-42',
  '--started-on', '2026-11-21T10:00:00Z', '--finished-on', '2026-11-21T10:04:00Z',
  '--output', out,
  ...extra,
];

test('attest provenance (real executable) → attest verify by trust root and by key; the statement is SLSA v1 as the spec names it', async (t) => {
  const { dir, run } = await setup(t);
  const made = await spawnCli([...PROVENANCE('app.intoto.jsonl', '--key', 'k/a.pem', '--key', 'k/b.pem')], { cwd: dir });
  assert.equal(made.code, 0, made.stderr);
  assert.match(made.stdout, /^wrote .*app\.intoto\.jsonl: https:\/\/slsa\.dev\/provenance\/v1 for 2 subject\(s\), signed by [0-9a-f]{64}, [0-9a-f]{64}\n/);

  const lines = readFileSync(join(dir, 'app.intoto.jsonl'), 'utf8').split('\n');
  assert.equal(lines.length, 2, 'one envelope, one line ending in \\n');
  assert.equal(lines[1], '');
  const env = JSON.parse(lines[0]!) as { payloadType: string; payload: string; signatures: unknown[] };
  assert.deepEqual(Object.keys(env), ['payload', 'payloadType', 'signatures']);
  assert.equal(env.payloadType, 'application/vnd.in-toto+json');
  assert.equal(env.signatures.length, 2);
  const st = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(st), ['_type', 'subject', 'predicateType', 'predicate']);
  assert.equal(st['_type'], 'https://in-toto.io/Statement/v1');
  assert.equal(st['predicateType'], 'https://slsa.dev/provenance/v1');
  assert.deepEqual(st['subject'], [
    { name: 'app.tar', digest: { sha256: hex('the application') } },
    { name: 'app.sbom.json', digest: { sha256: hex('{"spdxVersion":"SPDX-2.3"}') } },
  ]);
  assert.deepEqual(st['predicate'], {
    buildDefinition: {
      buildType: 'https://custody.dev/build-types/make/v1',
      externalParameters: { source: 'git+https://git.example.org/app@refs/tags/v1.2.3', target: 'release' },
      resolvedDependencies: [
        { uri: 'git+https://git.example.org/app', digest: { sha256: GIT_DIGEST } },
        { uri: 'pkg:npm/%40scope/left-pad@1.3.0', digest: { sha512: 'e'.repeat(128) } },
      ],
    },
    runDetails: {
      builder: { id: 'https://ci.example.org/runners/ubi9' },
      metadata: { invocationId: 'run-42', startedOn: '2026-11-21T10:00:00Z', finishedOn: '2026-11-21T10:04:00Z' },
    },
  });

  const byRoot = await run('attest', 'verify', 'app.intoto.jsonl', '--trust', 'root.json', '--artifact', 'dist/app.tar');
  assert.match(byRoot, /^envelope 1: https:\/\/slsa\.dev\/provenance\/v1, signed by 2\/2: /);
  assert.match(byRoot, new RegExp(`^  subject app\\.tar sha256:${hex('the application')}$`, 'm'));
  assert.match(byRoot, /^artifact dist\/app\.tar: subject "app\.tar" of envelope 1$/m);
  assert.match(byRoot, /^ {2}provenance: builder https:\/\/ci\.example\.org\/runners\/ubi9, buildType https:\/\/custody\.dev\/build-types\/make\/v1, 2 resolved dependencies, ran 2026-11-21T10:00:00\.000Z → 2026-11-21T10:04:00\.000Z$/m);
  assert.match(byRoot, /^OK: 1 envelope\(s\) verified$/m);
  const byKey = await run('attest', 'verify', 'app.intoto.jsonl', '--key', 'k/b.pub', '--json');
  const j = JSON.parse(byKey) as { ok: boolean; envelopes: Array<{ predicate_type: string; signers: string[]; threshold: number; subjects: Array<{ name: string }> }> };
  assert.equal(j.ok, true);
  assert.equal(j.envelopes[0]!.predicate_type, 'https://slsa.dev/provenance/v1');
  assert.equal(j.envelopes[0]!.signers.length, 1);
  assert.equal(j.envelopes[0]!.threshold, 1);
  assert.deepEqual(j.envelopes[0]!.subjects.map((s) => s.name), ['app.tar', 'app.sbom.json']);
  assert.deepEqual((j.envelopes[0] as unknown as { provenance: unknown }).provenance, {
    builder_id: 'https://ci.example.org/runners/ubi9',
    build_type: 'https://custody.dev/build-types/make/v1',
    resolved_dependencies: 2,
    invocation_id: 'run-42',
    started_on: '2026-11-21T10:00:00.000Z',
    finished_on: '2026-11-21T10:04:00.000Z',
  });
  await run('attest', 'verify', 'app.intoto.jsonl', '--key', 'k/a.pub', '--key', 'k/b.pub', '--threshold', '2');
});

test('attest: an existing output is refused; --append adds a line, --force replaces; attest predicate signs any predicate', async (t) => {
  const { dir, run, refuse } = await setup(t);
  await run(...PROVENANCE('app.intoto.jsonl', '--key', 'k/a.pem', '--key', 'k/b.pem'));
  const first = readFileSync(join(dir, 'app.intoto.jsonl'));
  await refuse('ERR_IO_EXISTS', 3, ...PROVENANCE('app.intoto.jsonl', '--key', 'k/a.pem'));
  assert.deepEqual(readFileSync(join(dir, 'app.intoto.jsonl')), first);

  writeFileSync(join(dir, 'review.json'), '{"reviewed":true,"score":0.5}');
  const out = await run('attest', 'predicate', '--predicate-type', 'https://example.org/review/v1', '--predicate', 'review.json', '--subject', 'dist/app.tar', '--key', 'k/a.pem', '--key', 'k/b.pem', '--output', 'app.intoto.jsonl', '--append');
  assert.match(out, /\(envelope 2 of the file\)/);
  const both = readFileSync(join(dir, 'app.intoto.jsonl'), 'utf8');
  assert.ok(both.startsWith(first.toString('utf8')), 'the first envelope is kept byte for byte');
  assert.equal(both.split('\n').length, 3);
  const v = await run('attest', 'verify', 'app.intoto.jsonl', '--trust', 'root.json', '--artifact', 'dist/app.tar', '--artifact', 'dist/app.sbom.json');
  assert.match(v, /^envelope 2: https:\/\/example\.org\/review\/v1, signed by 2\/2: /m);
  assert.match(v, /^artifact dist\/app\.tar: subject "app\.tar" of envelope 1, "app\.tar" of envelope 2$/m);
  assert.match(v, /^artifact dist\/app\.sbom\.json: subject "app\.sbom\.json" of envelope 1$/m);

  // --append onto something that is not an .intoto.jsonl is refused and leaves it as it was.
  writeFileSync(join(dir, 'notes.txt'), 'not an envelope\n');
  await refuse('ERR_FORMAT_JSON', 1, ...PROVENANCE('notes.txt', '--key', 'k/a.pem', '--append'));
  assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'not an envelope\n');
  // --append onto a file already holding JSONL_MAX_ENVELOPES (1,024) is refused: a verifier would not read the result.
  const line = first.toString('utf8');
  writeFileSync(join(dir, 'full.intoto.jsonl'), line.repeat(1024));
  const full = readFileSync(join(dir, 'full.intoto.jsonl'));
  const stderr = await refuse('ERR_LIMIT_COUNT', 1, ...PROVENANCE('full.intoto.jsonl', '--key', 'k/a.pem', '--append'));
  assert.match(stderr, /would hold 1025 envelopes, over the cap of 1024/);
  assert.ok(readFileSync(join(dir, 'full.intoto.jsonl')).equals(full), 'the full file is left as it was');
  writeFileSync(join(dir, 'full.intoto.jsonl'), line.repeat(1023));
  assert.match(await run(...PROVENANCE('full.intoto.jsonl', '--key', 'k/a.pem', '--append')), /\(envelope 1024 of the file\)/);
  // The size cap, on the text about to be written (a file near 128 MiB is not built here).
  assertCode(() => checkAttestationFile('x.intoto.jsonl', line.repeat(3), 3, line.length * 3 - 1), 'ERR_LIMIT_SIZE', 'LimitError');
  checkAttestationFile('x.intoto.jsonl', line.repeat(3), 3, line.length * 3);
  // --force replaces: one envelope again, signed by a alone (below the root's threshold of 2).
  await run(...PROVENANCE('app.intoto.jsonl', '--key', 'k/a.pem', '--force'));
  assert.equal(readFileSync(join(dir, 'app.intoto.jsonl'), 'utf8').split('\n').length, 2);
  await refuse('ERR_DSSE_THRESHOLD_UNMET', 1, 'attest', 'verify', 'app.intoto.jsonl', '--trust', 'root.json');
  await run('attest', 'verify', 'app.intoto.jsonl', '--key', 'k/a.pub');
});

test('attest verify refuses: tampered payload, wrong key, subject mismatch, the envelope named by number', async (t) => {
  const { dir, run, refuse } = await setup(t);
  await run(...PROVENANCE('app.intoto.jsonl', '--key', 'k/a.pem', '--key', 'k/b.pem'));
  const line = readFileSync(join(dir, 'app.intoto.jsonl'), 'utf8').trimEnd();

  // Tampered payload: one byte of the statement changed (the builder id), signatures kept.
  const env = JSON.parse(line) as { payload: string };
  const payload = Buffer.from(env.payload, 'base64').toString('utf8').replace('runners/ubi9', 'runners/ubi8');
  writeFileSync(join(dir, 'tampered.intoto.jsonl'), JSON.stringify({ ...env, payload: Buffer.from(payload).toString('base64') }) + '\n');
  await refuse('ERR_DSSE_THRESHOLD_UNMET', 1, 'attest', 'verify', 'tampered.intoto.jsonl', '--key', 'k/a.pub');
  // A good envelope followed by the tampered one: the file is refused and the bad envelope named.
  writeFileSync(join(dir, 'mixed.intoto.jsonl'), line + '\n' + readFileSync(join(dir, 'tampered.intoto.jsonl'), 'utf8'));
  const err = await refuse('ERR_DSSE_THRESHOLD_UNMET', 1, 'attest', 'verify', 'mixed.intoto.jsonl', '--trust', 'root.json');
  assert.match(err, /^custody: error: envelope 2: /m);

  // A correctly signed statement that claims to be SLSA v1 but is not: refused by its schema, envelope named.
  const a = await loadPrivateKey(join(dir, 'k', 'a.pem'), { env: {} });
  const fake = { subject: [{ name: 'app.tar', digest: { sha256: hex('the application') } }], predicateType: 'https://slsa.dev/provenance/v1', predicate: { buildDefinition: { buildType: 'https://t.example/v1' }, runDetails: { builder: { id: 'https://b.example' } } } };
  writeFileSync(join(dir, 'fake.intoto.jsonl'), line + '\n' + formatEnvelope(signEnvelope(INTOTO_PAYLOAD_TYPE, encodeStatement(fake), [a])) + '\n');
  const fakeErr = await refuse('ERR_SLSA_SCHEMA', 1, 'attest', 'verify', 'fake.intoto.jsonl', '--key', 'k/a.pub');
  assert.match(fakeErr, /^custody: error: envelope 2: buildDefinition: "externalParameters" is required/m);

  // Wrong key: signed by keys the verifier does not trust.
  await refuse('ERR_DSSE_THRESHOLD_UNMET', 1, 'attest', 'verify', 'app.intoto.jsonl', '--key', 'k/outsider.pub');
  await run(...PROVENANCE('outsider.intoto.jsonl', '--key', 'k/outsider.pem'));
  await refuse('ERR_DSSE_THRESHOLD_UNMET', 1, 'attest', 'verify', 'outsider.intoto.jsonl', '--trust', 'root.json');

  // Subject mismatch: the artifact's bytes are not a subject (same name, other content).
  writeFileSync(join(dir, 'app.tar'), 'the application, rebuilt differently');
  const mismatch = await refuse('ERR_ATTEST_SUBJECT_MISMATCH', 1, 'attest', 'verify', 'app.intoto.jsonl', '--trust', 'root.json', '--artifact', 'app.tar');
  assert.match(mismatch, /app\.tar \(sha256:[0-9a-f]{64}\) is not a subject of any statement/);

  // Usage: neither or both of --trust/--key; --threshold with --trust; --threshold above the key count.
  await refuse('ERR_USAGE_ARGUMENT', 2, 'attest', 'verify', 'app.intoto.jsonl');
  await refuse('ERR_USAGE_ARGUMENT', 2, 'attest', 'verify', 'app.intoto.jsonl', '--trust', 'root.json', '--key', 'k/a.pub');
  await refuse('ERR_USAGE_ARGUMENT', 2, 'attest', 'verify', 'app.intoto.jsonl', '--trust', 'root.json', '--threshold', '1');
  await refuse('ERR_USAGE_ARGUMENT', 2, 'attest', 'verify', 'app.intoto.jsonl', '--key', 'k/a.pub', '--threshold', '2');
  // The same key twice is one key (distinct by TUF key id): a threshold of 2 could never be met.
  const dup = await refuse('ERR_USAGE_ARGUMENT', 2, 'attest', 'verify', 'app.intoto.jsonl', '--key', 'k/a.pub', '--key', 'k/a.pub', '--threshold', '2');
  assert.match(dup, /--threshold 2: expected 1 to the 1 distinct Ed25519 --key given/);
});

test('attest provenance refusals: each flag problem has its code and exit status, and nothing is written', async (t) => {
  const { dir, refuse } = await setup(t);
  const before = listTree(dir);
  const without = (flag: string): string[] => {
    const argv = PROVENANCE('p.intoto.jsonl', '--key', 'k/a.pem');
    const i = argv.indexOf(flag);
    argv.splice(i, 2);
    return argv;
  };
  const replace = (flag: string, value: string): string[] => {
    const argv = PROVENANCE('p.intoto.jsonl', '--key', 'k/a.pem');
    argv[argv.indexOf(flag) + 1] = value;
    return argv;
  };
  const cases: Array<[string, string, number, string[]]> = [
    ['missing --builder-id', 'ERR_USAGE_ARGUMENT', 2, without('--builder-id')],
    ['missing --build-type', 'ERR_USAGE_ARGUMENT', 2, without('--build-type')],
    ['missing --output', 'ERR_USAGE_ARGUMENT', 2, without('--output')],
    ['missing --key', 'ERR_USAGE_ARGUMENT', 2, PROVENANCE('p.intoto.jsonl')],
    ['builder id not a URI', 'ERR_USAGE_ARGUMENT', 2, replace('--builder-id', 'my laptop')],
    ['malformed external parameters', 'ERR_FORMAT_JSON', 1, replace('--external-parameters', '{"target":')],
    ['external parameters not an object', 'ERR_SLSA_SCHEMA', 1, replace('--external-parameters', '["release"]')],
    ['external parameters with a duplicate key', 'ERR_FORMAT_JSON_DUPLICATE_KEY', 1, replace('--external-parameters', '{"a":1,"a":2}')],
    ['external parameters too large', 'ERR_LIMIT_SIZE', 1, replace('--external-parameters', `{"a":"${'x'.repeat(1024 * 1024)}"}`)],
    ['started after finished', 'ERR_SLSA_TIME_ORDER', 1, replace('--started-on', '2026-11-21T10:05:00Z')],
    ['started-on not RFC 3339', 'ERR_USAGE_ARGUMENT', 2, replace('--started-on', 'yesterday')],
    ['dependency without digest', 'ERR_USAGE_ARGUMENT', 2, replace('--resolved-dependency', 'git+https://git.example.org/app')],
    ['dependency short hex', 'ERR_USAGE_ARGUMENT', 2, replace('--resolved-dependency', 'git+https://git.example.org/app@sha256:abcd')],
    ['dependency upper-case hex', 'ERR_USAGE_ARGUMENT', 2, replace('--resolved-dependency', `git+https://git.example.org/app@sha256:${GIT_DIGEST.toUpperCase()}`)],
    ['dependency md5', 'ERR_USAGE_ARGUMENT', 2, replace('--resolved-dependency', `git+https://git.example.org/app@md5:${'0'.repeat(32)}`)],
    ['dependency not a URI', 'ERR_USAGE_ARGUMENT', 2, replace('--resolved-dependency', `left-pad@sha256:${GIT_DIGEST}`)],
    ['subject missing', 'ERR_IO_NOT_FOUND', 3, replace('--subject', 'dist/nope.tar')],
    ['subject a directory', 'ERR_IO_NOT_REGULAR_FILE', 3, replace('--subject', 'dist')],
    ['two subjects with one base name', 'ERR_INTOTO_SUBJECT_DUPLICATE', 1, [...PROVENANCE('p.intoto.jsonl', '--key', 'k/a.pem'), '--subject', 'k/../dist/app.tar']],
    ['--append with --force', 'ERR_USAGE_ARGUMENT', 2, PROVENANCE('p.intoto.jsonl', '--key', 'k/a.pem', '--append', '--force')],
    ['unknown flag', 'ERR_USAGE_ARGUMENT', 2, PROVENANCE('p.intoto.jsonl', '--key', 'k/a.pem', '--builder', 'x')],
  ];
  for (const [what, code, exit, argv] of cases) {
    await t.test(what, async () => {
      await refuse(code, exit, ...argv);
      assert.deepEqual(listTree(dir), before, `${what}: nothing written`);
    });
  }
  // attest predicate: a SLSA-typed predicate must be valid SLSA v1; a predicate must be an object.
  writeFileSync(join(dir, 'bad-slsa.json'), '{"buildDefinition":{"buildType":"https://t.example/v1"},"runDetails":{"builder":{"id":"https://b.example"}}}');
  writeFileSync(join(dir, 'list.json'), '[]');
  const withFiles = listTree(dir);
  await refuse('ERR_SLSA_SCHEMA', 1, 'attest', 'predicate', '--predicate-type', 'https://slsa.dev/provenance/v1', '--predicate', 'bad-slsa.json', '--subject', 'dist/app.tar', '--key', 'k/a.pem', '--output', 'p.intoto.jsonl');
  await refuse('ERR_FORMAT_SCHEMA', 1, 'attest', 'predicate', '--predicate-type', 'https://example.org/x/v1', '--predicate', 'list.json', '--subject', 'dist/app.tar', '--key', 'k/a.pem', '--output', 'p.intoto.jsonl');
  await refuse('ERR_USAGE_ARGUMENT', 2, 'attest', 'predicate', '--predicate-type', 'review', '--predicate', 'list.json', '--subject', 'dist/app.tar', '--key', 'k/a.pem', '--output', 'p.intoto.jsonl');
  assert.deepEqual(listTree(dir), withFiles);
});

test('attest: each usage example works as printed', async (t) => {
  const dir = tmpDir(t);
  const run = async (...argv: string[]): Promise<void> => {
    const r = await cli(argv, { cwd: dir });
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
  };
  // The examples' world: key k/a.pem, a root trusting it, and dist/app.tar.
  await run('keygen', '--output', 'k/a.pem');
  await run('trust', 'init', '--root-key', 'k/a.pub', '--manifest-key', 'k/a.pub', '--sign', 'k/a.pem', '--output', 'root.json');
  mkdirSync(join(dir, 'dist'));
  writeFileSync(join(dir, 'dist', 'app.tar'), 'the application');
  writeFileSync(join(dir, 'review.json'), '{"reviewed":true}\n');
  const { COMMANDS } = await import('../../src/cli/commands/index.ts');
  for (const name of ['attest provenance', 'attest predicate', 'attest verify']) {
    const usage = (await COMMANDS[name]!.load()).usage;
    const example = usage.slice(usage.indexOf('\nexample:\n') + 10).replace(/\\\n\s*/g, '');
    const commands = example.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('custody '));
    assert.ok(commands.length > 0, name);
    for (const c of commands) {
      // Shell words: split on spaces outside single quotes (the examples quote JSON with '…').
      const words = [...c.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);
      await run(...words.slice(1));
    }
  }
});
