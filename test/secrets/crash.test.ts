/**
 * test/secrets/crash — the crash table of KEK rotation (issue 12): a real child process rotating the KEK of a store
 * (test/support/secrets-rewrap-child.ts) is killed with SIGKILL at every step of the rotation (keyring written, each
 * secret's begin / staged temp file / rename, retire begin, keyring retired). After each kill every secret must read
 * back with the keyring on disk (under the old KEK or the new one, never neither), and `rewrap` must finish the
 * rotation: every file under the active KEK, the old KEK retired, no temporary file left.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSecretStore } from '../../src/secrets/open.ts';
import { TSX_LOADER } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';

const CHILD = new URL('../support/secrets-rewrap-child.ts', import.meta.url).pathname;
const PASS = 'crash table passphrase';
const enc = new TextEncoder();
const dec = new TextDecoder();
const SECRETS = { alpha: 'value of alpha', 'beta.token': 'value of beta', gamma: '' };
/** STEPS is the rotation of a 3-secret store, step by step: the table's rows. */
const STEPS = [
  'keyring-rotated',
  ...Object.keys(SECRETS).flatMap(() => ['secret-begin', 'secret-staged', 'secret-renamed']),
  'retire-begin',
  'keyring-retired',
];

function runChild(dir: string, at: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--import', TSX_LOADER, CHILD, dir, String(at)], {
      env: { PATH: process.env.PATH, CUSTODY_PASSPHRASE: PASS },
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

test('KEK rotation killed with SIGKILL at every step leaves every secret readable, and rewrap finishes it', async (t) => {
  const base = tmpDir(t);
  const template = join(base, 'template');
  {
    const { store } = await openSecretStore({ dir: template, passphrase: { env: { CUSTODY_PASSPHRASE: PASS } }, create: true, log2N: 10 });
    for (const [k, v] of Object.entries(SECRETS)) await store.put(k, enc.encode(v));
    store.keyring.close();
  }
  const rows = [0, ...STEPS.map((_, i) => i + 1)];
  const dirs = rows.map((at) => {
    const d = join(base, `crash-${at}`);
    cpSync(template, d, { recursive: true });
    return d;
  });
  const results = await Promise.all(rows.map((at, i) => runChild(dirs[i]!, at)));
  for (const [i, at] of rows.entries()) {
    const r = results[i]!;
    const where = at === 0 ? 'no crash' : `crash at step ${at} (${STEPS[at - 1]})`;
    if (at === 0) {
      assert.equal(r.code, 0, `${where}: ${r.stderr}`);
      assert.deepEqual((JSON.parse(r.stdout) as { steps: string[] }).steps, STEPS, 'the table covers every step of the rotation');
    } else {
      assert.equal(r.signal, 'SIGKILL', `${where}: the child must die at the step (${r.stderr})`);
    }
    // 1. Right after the crash: every secret reads back with the keyring on disk.
    const { store } = await openSecretStore({ dir: dirs[i]!, passphrase: { env: { CUSTODY_PASSPHRASE: PASS } } });
    for (const [k, v] of Object.entries(SECRETS)) assert.equal(dec.decode(await store.get(k)), v, `${where}: ${k}`);
    const keks = store.keyring.entries();
    const used = new Set((await store.list()).map((s) => s.kekId));
    for (const id of used) assert.ok(keks.some((e) => e.id === id), `${where}: every KEK a file names is in the keyring`);
    // 2. rewrap resumes (or, before the keyring was rotated, finds nothing to do).
    const report = await store.rewrap();
    const active = store.keyring.active().id;
    assert.deepEqual(store.keyring.entries().map((e) => e.id), [active], `${where}: one KEK left`);
    for (const s of await store.list()) assert.equal(s.kekId, active, `${where}: ${s.name} under the active KEK`);
    for (const [k, v] of Object.entries(SECRETS)) assert.equal(dec.decode(await store.get(k)), v, `${where}: ${k} after rewrap`);
    assert.deepEqual(readdirSync(dirs[i]!).sort(), ['alpha.secret', 'beta.token.secret', 'gamma.secret', 'keyring'], `${where}: no leftovers`);
    // Killed before the keyring dropped the old KEK: the resume retires it; after (or no crash): nothing left to do.
    const retiredByResume = at >= 1 && at < STEPS.length ? 1 : 0;
    assert.equal(report.retired.length, retiredByResume, `${where}: retired by the resume`);
    store.keyring.close();
  }
});
