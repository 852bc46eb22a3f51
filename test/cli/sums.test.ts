/**
 * `custody sums create|check|sign` against the real GNU coreutils binary (/usr/bin/sha256sum), both directions:
 * `sha256sum -c` accepts what we write, we accept what it writes, and `custody sums check` prints coreutils' verdict
 * lines, warnings and exit codes (stderr compared with the program name `sha256sum:` read as `custody:`).
 * Signed sums (DSSE envelope, detached signature set) are refused before any file is hashed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { SUMS_MAX_BYTES, formatSumsLine } from '../../src/attest/index.ts';
import { cli, type Transcript } from '../support/cli.ts';
import { listTree, tmpDir } from '../support/tmp.ts';

const SHA256SUM = '/usr/bin/sha256sum';
const skip = existsSync(SHA256SUM) ? false : 'coreutils sha256sum is not installed';
const NOW = new Date('2026-11-22T00:00:00Z');

/** NAMES are file names sha256sum must escape or keep raw: blanks, a backslash, a newline, UTF-8, markers. */
const NAMES = ['plain.txt', 'a b', 'back\\slash', 'new\nline', 'ünïcödé', '*star', ' lead', 'tab\there'];

function coreutils(args: string[], cwd: string): Transcript {
  const r = spawnSync(SHA256SUM, args, { cwd, argv0: 'sha256sum', encoding: 'utf8', env: { LC_ALL: 'C.UTF-8', PATH: process.env.PATH } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** ours runs custody in-process and drops the trailing coded error/hint lines custody adds after a failed check. */
async function ours(argv: string[], cwd: string): Promise<Transcript & { coded: string }> {
  const t = await cli(argv, { cwd, now: NOW });
  const lines = t.stderr.split('\n');
  const coded = lines.filter((l) => l.startsWith('custody: error: ') || l.startsWith('custody: hint: ')).join('\n');
  return { ...t, stderr: lines.filter((l) => !l.startsWith('custody: error: ') && !l.startsWith('custody: hint: ')).join('\n'), coded };
}

/** same asserts custody and coreutils agree on stdout, stderr (program name aside) and exit code. */
async function same(t: TestContext, dir: string, ourArgs: string[], theirArgs: string[]): Promise<Transcript & { coded: string }> {
  const o = await ours(ourArgs, dir);
  const c = coreutils(theirArgs, dir);
  assert.equal(o.stdout, c.stdout, `stdout of ${ourArgs.join(' ')}`);
  assert.equal(o.stderr, c.stderr.replace(/^sha256sum: /gm, 'custody: '), `stderr of ${ourArgs.join(' ')}`);
  assert.equal(o.code, c.code, `exit code of ${ourArgs.join(' ')}`);
  t.diagnostic(`${ourArgs.join(' ')} → ${o.code}`);
  return o;
}

function tree(t: TestContext, names = NAMES): string {
  const dir = tmpDir(t, 'custody-sums-');
  for (const [i, n] of names.entries()) writeFileSync(join(dir, n), `content ${i} of ${n}\n`);
  return dir;
}

test('sha256sum -c accepts what custody sums create writes (text, --binary, --tag), byte-identical to sha256sum', { skip }, async (t) => {
  const dir = tree(t);
  for (const [flag, theirs] of [
    [[], []],
    [['--binary'], ['--binary']],
    [['--tag'], ['--tag']],
  ] as const) {
    const r = await cli(['sums', 'create', ...NAMES, '--output', 'SUMS', ...flag], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const c = coreutils([...theirs, ...NAMES], dir);
    assert.equal(readFileSync(join(dir, 'SUMS'), 'utf8'), c.stdout, `create ${flag.join(' ')} equals sha256sum ${theirs.join(' ')}`);
    const check = coreutils(['-c', '--strict', 'SUMS'], dir);
    assert.equal(check.code, 0, check.stderr);
    assert.equal(check.stdout.split('\n').filter((l) => l.endsWith(': OK')).length, NAMES.length);
    // To stdout without --output: the same bytes.
    const out = await cli(['sums', 'create', ...NAMES, ...flag], { cwd: dir });
    assert.equal(out.stdout, c.stdout);
  }
});

test('custody sums check accepts what sha256sum writes (text, -b, --tag) in a tree of awkward names', { skip }, async (t) => {
  const dir = tree(t);
  for (const flag of [[], ['-b'], ['--tag']]) {
    writeFileSync(join(dir, 'THEIRS'), coreutils([...flag, ...NAMES], dir).stdout);
    const r = await cli(['sums', 'check', 'THEIRS', '--strict'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split('\n').filter((l) => l.endsWith(': OK')).length, NAMES.length);
    assert.match(r.stdout, /^\\new\\nline: OK$/m);
    assert.match(r.stdout, /^ünïcödé: OK$/m);
    assert.match(r.stdout, /^a b: OK$/m);
  }
});

test('verdict lines, warnings and exit codes equal coreutils: all OK, changed, missing, malformed, quiet, status', { skip }, async (t) => {
  // Names on which coreutils 9.1 and custody print the same verdict lines (custody, like digest.c of 2025, also
  // escapes names holding a backslash or CR).
  const names = ['plain.txt', 'a b', 'new\nline', 'ünïcödé', "it's", 'x!'];
  const dir = tree(t, names);
  writeFileSync(join(dir, 'SUMS'), coreutils(names, dir).stdout);
  const both = (args: string[]): Promise<Transcript & { coded: string }> => same(t, dir, ['sums', 'check', 'SUMS', ...args], ['-c', 'SUMS', ...args]);

  const ok = await both([]);
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /^plain\.txt: OK$/m);
  await both(['--quiet']);
  await both(['--status']);

  writeFileSync(join(dir, 'a b'), 'changed\n');
  const changed = await both([]);
  assert.equal(changed.code, 1);
  assert.match(changed.stdout, /^a b: FAILED$/m);
  assert.match(changed.stderr, /^custody: WARNING: 1 computed checksum did NOT match$/m);
  assert.match(changed.coded, /\[ERR_SUMS_CHECK_FAILED\]/);
  await both(['--quiet']);
  const status = await both(['--status']);
  assert.equal(status.stdout + status.stderr + status.coded, '');

  writeFileSync(join(dir, 'a b'), `content 1 of a b\n`); // restored
  unlinkSync(join(dir, "it's"));
  const missing = await both([]);
  assert.match(missing.stdout, /^it's: FAILED open or read$/m);
  assert.match(missing.stderr, /^custody: "it's": No such file or directory$/m);
  assert.match(missing.stderr, /^custody: WARNING: 1 listed file could not be read$/m);
  const ignored = await both(['--ignore-missing']);
  assert.equal(ignored.code, 0);
  // Nothing verified at all with --ignore-missing: coreutils' "no file was verified", exit 1.
  writeFileSync(join(dir, 'ONLYMISSING'), `${'0'.repeat(64)}  gone\n${'1'.repeat(64)}  gone too\n`);
  const none = await same(t, dir, ['sums', 'check', 'ONLYMISSING', '--ignore-missing'], ['-c', 'ONLYMISSING', '--ignore-missing']);
  assert.match(none.stderr, /^custody: ONLYMISSING: no file was verified$/m);
  assert.equal(none.code, 1);

  // An improperly formatted line: a warning, exit 0 — unless --strict; --warn names the line.
  writeFileSync(join(dir, "it's"), `content 4 of it's\n`);
  writeFileSync(join(dir, 'SUMS'), readFileSync(join(dir, 'SUMS'), 'utf8') + 'this is not a checksum line\n' + `${'z'.repeat(64)}  badhex\n`);
  const malformed = await both([]);
  assert.equal(malformed.code, 0);
  assert.match(malformed.stderr, /^custody: WARNING: 2 lines are improperly formatted$/m);
  const strict = await both(['--strict']);
  assert.equal(strict.code, 1);
  await both(['--warn']);
  await both(['-w', '--strict']);
  await both(['--warn', '--status']);
  await both(['--status', '--warn']);

  // A directory and a file with nothing properly formatted.
  mkdirSync(join(dir, 'adir'));
  writeFileSync(join(dir, 'DIRSUMS'), `${'0'.repeat(64)}  adir\n`);
  const isDir = await same(t, dir, ['sums', 'check', 'DIRSUMS'], ['-c', 'DIRSUMS']);
  assert.match(isDir.stderr, /^custody: adir: Is a directory$/m);
  writeFileSync(join(dir, 'JUNK'), 'junk\n# comment\n');
  const junk = await same(t, dir, ['sums', 'check', 'JUNK'], ['-c', 'JUNK']);
  assert.match(junk.coded, /\[ERR_SUMS_NO_VALID_LINES\]/);
});

test("error lines name unreadable files quoted as coreutils' quotef does (shell quoting, control characters)", { skip }, async (t) => {
  const dir = tmpDir(t, 'custody-sums-');
  const names = ['a b', "it's", 'a=b', '~x', 'a~', '#x', 'x#', ':x', 'tab\there', 'nl\nx', 'esc\x1bx', "a'$b", 'a\'"b', 'ünï', '{x', '\nlead', 'trail\n', "'", 'é é', '\x7f'];
  const lines = names.map((n) => formatSumsLine({ name: Buffer.from(n), sha256: '0'.repeat(64), mode: 'text' }));
  writeFileSync(join(dir, 'GONE'), Buffer.concat(lines));
  const o = await same(t, dir, ['sums', 'check', 'GONE'], ['-c', 'GONE']);
  assert.match(o.stderr, /^custody: 'esc'\$'\\033''x': No such file or directory$/m);
  assert.match(o.stderr, /^custody: WARNING: 20 listed files could not be read$/m);
});

test('quirky checksum files read as sha256sum -c reads them: comments, CRLF, case, tags, reversed lines, no final newline', { skip }, async (t) => {
  const names = ['one', 'two', ' lead', 'new\nline'];
  const dir = tree(t, names);
  const hex = Object.fromEntries(names.map((n) => [n, coreutils([n], dir).stdout.replace(/^\\/, '').slice(0, 64)]));
  const files: Record<string, string> = {
    MIXED: `# comment\r\n\r\n${hex.one!.toUpperCase()} *one\r\nSHA256(two)= ${hex.two}\n\t ${hex.one}  one\n\\SHA256 (new\\nline) = ${hex['new\nline']}\n${hex.two}  two`,
    REVERSED: `${hex.one} one\n${hex[' lead']}  lead\n${hex.two}  two\n`,
    STANDARD_FIRST: `${hex.one}  one\n${hex.two} two\n`,
    BAD_ESCAPES: `\\${hex.one}  o\\ne\n\\${hex.two}  two\\\n${hex.one}  one\n`,
  };
  for (const [name, body] of Object.entries(files)) {
    writeFileSync(join(dir, name), body);
    await same(t, dir, ['sums', 'check', name], ['-c', name]);
    await same(t, dir, ['sums', 'check', name, '--warn', '--strict'], ['-c', name, '--warn', '--strict']);
  }
});

test('names that are not UTF-8, and absolute names, are opened by their exact bytes', { skip }, async (t) => {
  const dir = tmpDir(t, 'custody-sums-');
  const raw = Buffer.from([0x66, 0xff, 0x6f]); // "f\xffo": not UTF-8
  writeFileSync(Buffer.concat([Buffer.from(dir + '/'), raw]), 'latin\n');
  writeFileSync(join(dir, 'abs'), 'absolute\n');
  // sha256sum gets the raw name from the shell (printf '\\377'): a JS string argv cannot carry the byte.
  const theirs = spawnSync('/bin/sh', ['-c', `${SHA256SUM} "$(printf 'f\\377o')" "${join(dir, 'abs')}"`], { cwd: dir });
  assert.equal(theirs.status, 0, String(theirs.stderr));
  writeFileSync(join(dir, 'SUMS'), theirs.stdout);
  assert.ok(theirs.stdout.includes(raw), 'sha256sum wrote the raw byte');
  const o = await cli(['sums', 'check', 'SUMS', '--strict'], { cwd: dir });
  assert.equal(o.code, 0, o.stderr);
  assert.equal(o.stdout, `f\ufffdo: OK\n${join(dir, 'abs')}: OK\n`);
});

test('verdict names with a backslash or CR are escaped (coreutils digest.c of 2025); the files still verify', { skip }, async (t) => {
  const dir = tree(t, ['back\\slash', 'cr\rx']);
  writeFileSync(join(dir, 'SUMS'), coreutils(['back\\slash', 'cr\rx'], dir).stdout);
  const r = await cli(['sums', 'check', 'SUMS'], { cwd: dir });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, '\\back\\\\slash: OK\n\\cr\\rx: OK\n');
});

test('create refuses unlistable names and unreadable files, writing nothing', { skip }, async (t) => {
  const dir = tree(t, ['x']);
  writeFileSync(join(dir, '-'), 'dash');
  const before = listTree(dir);
  const dash = await cli(['sums', 'create', '--output', 'SUMS', 'x', '--', '-'], { cwd: dir });
  assert.equal(dash.code, 2);
  assert.match(dash.stderr, /\[ERR_SUMS_NAME_UNREPRESENTABLE\]/);
  const gone = await cli(['sums', 'create', 'x', 'nope', '--output', 'SUMS'], { cwd: dir });
  assert.equal(gone.code, 3);
  assert.match(gone.stderr, /\[ERR_IO_NOT_FOUND\]/);
  assert.deepEqual(listTree(dir), before);
});

test('hostile checksum files: a NUL byte and an oversized line are coded refusals before anything is hashed', { skip }, async (t) => {
  const dir = tree(t, ['x']);
  writeFileSync(join(dir, 'NUL'), `${'0'.repeat(64)}  x\u0000y\n`);
  const nul = await cli(['sums', 'check', 'NUL'], { cwd: dir });
  assert.equal(nul.code, 1);
  assert.equal(nul.stdout, '');
  assert.match(nul.stderr, /\[ERR_SUMS_NUL_BYTE\]/);
  writeFileSync(join(dir, 'LONG'), `${'0'.repeat(64)}  ${'y'.repeat(20_000)}\n`);
  const long = await cli(['sums', 'check', 'LONG'], { cwd: dir });
  assert.equal(long.code, 1);
  assert.match(long.stderr, /\[ERR_LIMIT_SIZE\]/);
  // A checksum file over the 64 MiB cap (sparse) is refused before it is read.
  writeFileSync(join(dir, 'HUGE'), '');
  truncateSync(join(dir, 'HUGE'), SUMS_MAX_BYTES + 1);
  const huge = await cli(['sums', 'check', 'HUGE'], { cwd: dir });
  assert.equal(huge.code, 1);
  assert.equal(huge.stdout, '');
  assert.match(huge.stderr, /checksum file is 67108865 bytes, over the cap of 67108864 \[ERR_LIMIT_SIZE\]/);
  // Invalid hex alone: coreutils' "no properly formatted checksum lines found", coded.
  writeFileSync(join(dir, 'HEX'), `${'g'.repeat(64)}  x\n`);
  const hex = await same(t, dir, ['sums', 'check', 'HEX'], ['-c', 'HEX']);
  assert.match(hex.coded, /\[ERR_SUMS_NO_VALID_LINES\]/);
});

async function keys(dir: string, names: string[]): Promise<void> {
  for (const n of names) assert.equal((await cli(['keygen', '--output', `k/${n}.pem`], { cwd: dir })).code, 0);
}

test('signed sums (DSSE): good, tampered, wrong key, threshold — signature refusals hash nothing', { skip }, async (t) => {
  const dir = tree(t, ['app.psp', 'app.tar']);
  await keys(dir, ['a', 'b', 'c']);
  assert.equal((await cli(['sums', 'create', 'app.psp', 'app.tar', '--output', 'SHA256SUMS'], { cwd: dir })).code, 0);
  const sign = await cli(['sums', 'sign', 'SHA256SUMS', '--key', 'k/a.pem'], { cwd: dir });
  assert.equal(sign.code, 0, sign.stderr);
  const env = JSON.parse(readFileSync(join(dir, 'SHA256SUMS.dsse'), 'utf8')) as { payloadType: string; payload: string };
  assert.equal(env.payloadType, 'application/vnd.custody.sha256sums');
  assert.deepEqual(Buffer.from(env.payload, 'base64'), readFileSync(join(dir, 'SHA256SUMS')));

  const good = await cli(['sums', 'check', 'SHA256SUMS', '--signature', 'SHA256SUMS.dsse', '--key', 'k/a.pub'], { cwd: dir });
  assert.equal(good.code, 0, good.stderr);
  assert.equal(good.stdout, 'app.psp: OK\napp.tar: OK\n');

  const wrong = await cli(['sums', 'check', 'SHA256SUMS', '--signature', 'SHA256SUMS.dsse', '--key', 'k/b.pub'], { cwd: dir });
  assert.equal(wrong.code, 1);
  assert.equal(wrong.stdout, '');
  assert.match(wrong.stderr, /\[ERR_DSSE_THRESHOLD_UNMET\]/);

  const need2 = await cli(['sums', 'check', 'SHA256SUMS', '--signature', 'SHA256SUMS.dsse', '--key', 'k/a.pub', '--key', 'k/b.pub', '--threshold', '2'], { cwd: dir });
  assert.equal(need2.code, 1);
  assert.match(need2.stderr, /signed by 1\/2 trusted keys \[ERR_DSSE_THRESHOLD_UNMET\]/);
  assert.equal((await cli(['sums', 'sign', 'SHA256SUMS', '--key', 'k/b.pem'], { cwd: dir })).code, 0);
  const met = await cli(['sums', 'check', 'SHA256SUMS', '--signature', 'SHA256SUMS.dsse', '--key', 'k/a.pub', '--key', 'k/b.pub', '--threshold', '2'], { cwd: dir });
  assert.equal(met.code, 0, met.stderr);

  // A trust root whose targets role needs 2 of a, b, c.
  const init = await cli(
    ['trust', 'init', '--threshold', '2', '--key', 'k/a.pub', '--key', 'k/b.pub', '--key', 'k/c.pub', '--expires', '365d', '--sign', 'k/a.pem', '--sign', 'k/b.pem', '--output', 'root.json'],
    { cwd: dir, now: NOW },
  );
  assert.equal(init.code, 0, init.stderr);
  const viaRoot = await cli(['sums', 'check', 'SHA256SUMS', '--signature', 'SHA256SUMS.dsse', '--trust', 'root.json'], { cwd: dir, now: NOW });
  assert.equal(viaRoot.code, 0, viaRoot.stderr);

  // Tampered: the listed file changes AND its line is edited to match — the signature no longer covers the file.
  writeFileSync(join(dir, 'app.psp'), 'evil\n');
  const evilSums = await cli(['sums', 'create', 'app.psp', 'app.tar'], { cwd: dir });
  writeFileSync(join(dir, 'SHA256SUMS'), evilSums.stdout);
  assert.equal(coreutils(['-c', 'SHA256SUMS'], dir).code, 0, 'unsigned, the tampered sums would pass');
  const tampered = await cli(['sums', 'check', 'SHA256SUMS', '--signature', 'SHA256SUMS.dsse', '--trust', 'root.json'], { cwd: dir, now: NOW });
  assert.equal(tampered.code, 1);
  assert.equal(tampered.stdout, '');
  assert.match(tampered.stderr, /\[ERR_SUMS_PAYLOAD_MISMATCH\]/);
  // Signing the changed file into the old envelope is refused too.
  const resign = await cli(['sums', 'sign', 'SHA256SUMS', '--key', 'k/a.pem'], { cwd: dir });
  assert.equal(resign.code, 1);
  assert.match(resign.stderr, /\[ERR_SUMS_PAYLOAD_MISMATCH\]/);
});

test('signed sums (detached signature set from sign-package): good and tampered', { skip }, async (t) => {
  const dir = tree(t, ['app.psp']);
  await keys(dir, ['a']);
  assert.equal((await cli(['trust', 'init', '--threshold', '1', '--key', 'k/a.pub', '--expires', '365d', '--sign', 'k/a.pem', '--output', 'root.json'], { cwd: dir, now: NOW })).code, 0);
  assert.equal((await cli(['sums', 'create', 'app.psp', '--output', 'SHA256SUMS'], { cwd: dir })).code, 0);
  assert.equal((await cli(['sign-package', 'SHA256SUMS', '--key', 'k/a.pem'], { cwd: dir })).code, 0);
  const good = await cli(['sums', 'check', 'SHA256SUMS', '--sigs', 'SHA256SUMS.sigs', '--trust', 'root.json', '--json'], { cwd: dir, now: NOW });
  assert.equal(good.code, 0, good.stderr);
  const j = JSON.parse(good.stdout) as { ok: boolean; verified: number; signers: string[]; files: unknown[] };
  assert.equal(j.ok, true);
  assert.equal(j.signers.length, 1);
  assert.equal(j.verified, 1);
  // A root that needs 2 of a, b: one signature is not enough.
  await keys(dir, ['b']);
  const init2 = await cli(['trust', 'init', '--threshold', '2', '--key', 'k/a.pub', '--key', 'k/b.pub', '--expires', '365d', '--sign', 'k/a.pem', '--sign', 'k/b.pem', '--output', 'root2.json'], { cwd: dir, now: NOW });
  assert.equal(init2.code, 0, init2.stderr);
  const one = await cli(['sums', 'check', 'SHA256SUMS', '--sigs', 'SHA256SUMS.sigs', '--trust', 'root2.json'], { cwd: dir, now: NOW });
  assert.equal(one.code, 1);
  assert.equal(one.stdout, '');
  assert.match(one.stderr, /signed by 1\/2 keys .*\[ERR_SIGSET_THRESHOLD_UNMET\]/);
  assert.equal((await cli(['sign-package', 'SHA256SUMS', '--key', 'k/b.pem'], { cwd: dir })).code, 0);
  assert.equal((await cli(['sums', 'check', 'SHA256SUMS', '--sigs', 'SHA256SUMS.sigs', '--trust', 'root2.json'], { cwd: dir, now: NOW })).code, 0);
  writeFileSync(join(dir, 'SHA256SUMS'), readFileSync(join(dir, 'SHA256SUMS'), 'utf8') + '# appended\n');
  const bad = await cli(['sums', 'check', 'SHA256SUMS', '--sigs', 'SHA256SUMS.sigs', '--trust', 'root.json'], { cwd: dir, now: NOW });
  assert.equal(bad.code, 1);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /\[ERR_SIGSET_DIGEST_MISMATCH\]/);
});

test('sums sign refuses a checksum file with a malformed line or none at all', { skip }, async (t) => {
  const dir = tree(t, ['x']);
  await keys(dir, ['a']);
  writeFileSync(join(dir, 'BAD'), `${'0'.repeat(64)}  x\nnot a line\n`);
  const bad = await cli(['sums', 'sign', 'BAD', '--key', 'k/a.pem'], { cwd: dir });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /line 2 is improperly formatted \[ERR_SUMS_LINE_MALFORMED\]/);
  writeFileSync(join(dir, 'EMPTY'), '# nothing\n');
  const empty = await cli(['sums', 'sign', 'EMPTY', '--key', 'k/a.pem'], { cwd: dir });
  assert.match(empty.stderr, /\[ERR_SUMS_NO_VALID_LINES\]/);
  assert.equal(existsSync(join(dir, 'BAD.dsse')) || existsSync(join(dir, 'EMPTY.dsse')), false);
});
