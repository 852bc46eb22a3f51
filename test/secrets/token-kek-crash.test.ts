/**
 * test/secrets/token-kek-crash — the crash table of KEK rotation with a KEK in a real SoftHSM2 token (issue 12), in
 * both directions: file KEK → token KEK and token KEK → file KEK. A child process (test/support/token-kek-child.ts)
 * rotating a 3-secret store is killed with SIGKILL at every step; the rows where the loop differs from the file-only
 * table (test/secrets/crash.test.ts) are `kek-generated` (the AES key exists in the token, the keyring does not name
 * it yet) and `kek-destroyed` (a retired token KEK's object destroyed after the keyring dropped it). Each row has its
 * own copy of the store and of the token directory, so rows run side by side. After each kill, a second child reads
 * every secret back (under the old KEK or the new one, never neither), runs `rewrap`, and reports what is left.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openSecretStore } from '../../src/secrets/open.ts';
import { TSX_LOADER } from '../support/cli.ts';
import { SKIP_SOFTHSM, USER_PIN, setupSoftHsm, type SoftHsm } from '../support/softhsm.ts';

const skip = SKIP_SOFTHSM;
const CHILD = new URL('../support/token-kek-child.ts', import.meta.url).pathname;
const PASS = 'token crash table passphrase';
const enc = new TextEncoder();
const SECRETS: Record<string, string> = { alpha: 'value of alpha', 'beta.token': 'value of beta', gamma: '' };
const PER_SECRET = Object.keys(SECRETS).flatMap(() => ['secret-begin', 'secret-staged', 'secret-renamed']);
const TO_TOKEN_STEPS = ['kek-generated', 'keyring-rotated', ...PER_SECRET, 'retire-begin', 'keyring-retired'];
const TO_FILE_STEPS = ['keyring-rotated', ...PER_SECRET, 'retire-begin', 'keyring-retired', 'kek-destroyed'];
/** CONCURRENCY bounds the children alive at once (the machine is shared). */
const CONCURRENCY = 4;

let hsm: SoftHsm;
before(() => {
  if (skip) return;
  hsm = setupSoftHsm(['crash']);
});
after(() => hsm?.cleanup());

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function child(rowDir: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--import', TSX_LOADER, CHILD, ...args], {
      cwd: rowDir,
      env: { PATH: process.env.PATH, CUSTODY_PASSPHRASE: PASS, SOFTHSM2_CONF: join(rowDir, 'softhsm2.conf'), CUSTODY_PKCS11_MODULE: hsm.module, TEST_USER_PIN: USER_PIN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('error', reject);
    c.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

async function pool<T>(n: number, jobs: Array<() => Promise<T>>): Promise<T[]> {
  const out: T[] = new Array<T>(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]!();
      }
    }),
  );
  return out;
}

/** makeRow copies the template store and token directory into a row of its own, with its own SoftHSM2 config. */
function makeRow(base: string, name: string, template: { store: string; tokens: string }): string {
  const row = join(base, name);
  cpSync(template.store, join(row, 'store'), { recursive: true });
  cpSync(template.tokens, join(row, 'tokens'), { recursive: true });
  writeFileSync(join(row, 'softhsm2.conf'), `directories.tokendir = ${join(row, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  return row;
}

interface Check {
  before: Record<string, string>;
  keksBefore: string[];
  namedBefore: string[];
  report: { retired: string[]; leftInToken: string[] };
  after: Record<string, string>;
  keks: Array<{ id: string; kind: string }>;
  kekIds: string[];
  tokenKeys: string[];
}

async function runTable(
  base: string,
  direction: string,
  steps: string[],
  template: { store: string; tokens: string },
  to: string,
  expect: (at: number, c: Check, where: string) => void,
): Promise<void> {
  const rows = [0, ...steps.map((_, i) => i + 1)];
  const dirs = rows.map((at) => makeRow(base, `${direction}-${at}`, template));
  const results = await pool(
    CONCURRENCY,
    rows.map((at, i) => async () => {
      const r = await child(dirs[i]!, ['rotate', 'store', String(at), to]);
      const c = await child(dirs[i]!, ['check', 'store', 'crash']);
      return { r, c };
    }),
  );
  for (const [i, at] of rows.entries()) {
    const { r, c } = results[i]!;
    const where = `${direction}: ${at === 0 ? 'no crash' : `crash at step ${at} (${steps[at - 1]})`}`;
    if (at === 0) {
      assert.equal(r.code, 0, `${where}: ${r.stderr}`);
      assert.deepEqual((JSON.parse(r.stdout) as { steps: string[] }).steps, steps, `${where}: the table covers every step of the rotation`);
    } else {
      assert.equal(r.signal, 'SIGKILL', `${where}: the child must die at the step (${r.stderr})`);
    }
    assert.equal(c.code, 0, `${where}: check failed: ${c.stderr}`);
    const check = JSON.parse(c.stdout) as Check;
    // Right after the crash every secret reads back, and every KEK a file names is in the keyring.
    assert.deepEqual(check.before, SECRETS, `${where}: every secret readable after the crash`);
    for (const id of check.namedBefore) assert.ok(check.keksBefore.includes(id), `${where}: ${id} named by a file is in the keyring`);
    // After rewrap: one KEK, every file under it, every secret readable, no leftover files.
    assert.equal(check.keks.length, 1, `${where}: one KEK left`);
    assert.deepEqual(check.kekIds, [check.keks[0]!.id], `${where}: every file under the active KEK`);
    assert.deepEqual(check.after, SECRETS, `${where}: every secret readable after rewrap`);
    assert.deepEqual(readdirSync(join(dirs[i]!, 'store')).sort(), ['alpha.secret', 'beta.token.secret', 'gamma.secret', 'keyring'], `${where}: no leftovers`);
    expect(at, check, where);
  }
}

test('KEK rotation file → token and token → file, killed with SIGKILL at every step: every secret stays readable and rewrap finishes', { skip }, async (t) => {
  const base = join(hsm.dir, 'rows');
  const pkcs11 = { cwd: hsm.dir, env: hsm.env };
  // Template A: a store under a file KEK. Template B: the same secrets under a token KEK (label "template-kek").
  const storeA = join(hsm.dir, 'template-a');
  {
    const { store } = await openSecretStore({ dir: storeA, passphrase: { env: { CUSTODY_PASSPHRASE: PASS } }, create: true, log2N: 10, pkcs11 });
    for (const [k, v] of Object.entries(SECRETS)) await store.put(k, enc.encode(v));
    store.keyring.close();
  }
  const tokensA = join(hsm.dir, 'template-a-tokens');
  cpSync(hsm.tokenDir, tokensA, { recursive: true });
  const storeB = join(hsm.dir, 'template-b');
  cpSync(storeA, storeB, { recursive: true });
  {
    const { store } = await openSecretStore({ dir: storeB, passphrase: { env: { CUSTODY_PASSPHRASE: PASS } }, pkcs11 });
    await store.rotateKek({ to: { kind: 'pkcs11', uri: 'pkcs11:token=crash;object=template-kek?pin-source=file:pin.txt' } });
    store.keyring.close();
  }
  const tokensB = join(hsm.dir, 'template-b-tokens');
  cpSync(hsm.tokenDir, tokensB, { recursive: true });
  t.diagnostic(`${TO_TOKEN_STEPS.length + TO_FILE_STEPS.length + 2} rows, each a rotating child and a checking child`);

  // File → token. Killed at kek-generated, the keyring never named the new key: the store stays under the file KEK
  // and the token holds an object nothing refers to (the operator deletes it or rotates to another label).
  await runTable(base, 'to-token', TO_TOKEN_STEPS, { store: storeA, tokens: tokensA }, 'pkcs11:token=crash;object=new-kek?pin-source=file:../../pin.txt', (at, c, where) => {
    assert.equal(c.keks[0]!.kind, at === 1 ? 'file' : 'pkcs11', `${where}: the KEK left`);
    assert.deepEqual(c.tokenKeys, ['new-kek'], `${where}: the token holds the new key`);
    assert.deepEqual(c.report.retired.length, at >= 2 && at < TO_TOKEN_STEPS.length ? 1 : 0, `${where}: retired by the resume`);
  });
  // Token → file. The token KEK's object is destroyed after the keyring dropped it; killed between the two
  // (keyring-retired), the object is left behind, named by nothing.
  const retiredAt = TO_FILE_STEPS.indexOf('keyring-retired') + 1;
  await runTable(base, 'to-file', TO_FILE_STEPS, { store: storeB, tokens: tokensB }, 'file', (at, c, where) => {
    assert.equal(c.keks[0]!.kind, 'file', `${where}: the KEK left`);
    assert.deepEqual(c.tokenKeys, at === retiredAt ? ['template-kek'] : [], `${where}: the token KEK destroyed`);
    assert.deepEqual(c.report.leftInToken, [], `${where}: nothing the keyring names is left in the token`);
  });
});
