/**
 * test/install/helpers — a real provider daemon on loopback with releases to install, a proxy in front of it that
 * can rewrite answers (a hostile provider), and checks that an install target is consistent.
 */
import assert from 'node:assert/strict';
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { verifyReleaseDir } from '../../src/client/install.ts';
import { parseInstallState } from '../../src/client/install-state.ts';
import { tmpDir } from '../support/tmp.ts';
import { putIncoming, start } from '../provider/harness.ts';

export { proxy, type Override } from '../provider/harness.ts';

/** provider starts a daemon with release 1 of stable/x86_64 published; `publish(n)` makes release n. */
export async function provider(t: TestContext) {
  const dir = tmpDir(t);
  const d = await start(t, join(dir, 'data'), { sample: false });
  const publish = async (n: number): Promise<{ sequence: number; manifestText: string; proofText: string }> => {
    putIncoming(d, 'stable', 'x86_64', { 'app.bin': Buffer.alloc(100_000 + n, n), '.version': `${n}.0.0\n` });
    await d.rescan();
    const r = d.releases.get('stable', 'x86_64')!;
    return { sequence: r.manifest.manifest.sequence, manifestText: r.manifestText, proofText: r.proofText };
  };
  const target = join(dir, 'target');
  const args = (extra: string[] = []): string[] => [
    'install',
    d.url,
    '--channel',
    'stable',
    '--arch',
    'x86_64',
    '--root-fingerprint',
    d.identity.fingerprint,
    '--require-log',
    d.vkey,
    '--target',
    target,
    ...extra,
  ];
  return { dir, d, publish, target, args };
}

/** activeSequence reads where DIR/current points (null: no current). */
export function activeSequence(target: string): number | null {
  try {
    lstatSync(join(target, 'current'));
  } catch {
    return null;
  }
  const link = readlinkSync(join(target, 'current'));
  const m = /^releases\/([0-9]+)$/.exec(link);
  assert.ok(m, `current points to ${link}`);
  return Number(m[1]);
}

/** assertConsistent checks that current names a whole, verified release (or none) and returns its sequence. */
export async function assertConsistent(target: string): Promise<number | null> {
  const seq = activeSequence(target);
  if (seq !== null) {
    const rec = await verifyReleaseDir(join(target, 'releases', String(seq)));
    assert.equal(rec.sequence, seq);
  }
  return seq;
}

/** journal reads DIR/install.json. */
export function journal(target: string) {
  return parseInstallState(readFileSync(join(target, 'install.json')));
}
