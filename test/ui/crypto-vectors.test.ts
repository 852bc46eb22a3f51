/**
 * test/ui/crypto-vectors — the dashboard's browser crypto (ui/src: Ed25519 via WebCrypto, SHA-256, RFC 6962
 * inclusion and consistency, signed notes and checkpoints with cosignatures, RFC 8785 and TUF canonical JSON, the
 * release checks) run IN Chromium against the vectors the Node code is tested with — Wycheproof ed25519_test.json
 * (test/crypto/ed25519.test.ts) and the transparency-dev/merkle vectors (test/tlog/merkle.test.ts) — and against
 * notes, canonical texts and a release the Node code signed. Skipped loudly where chromium is missing.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { build } from 'esbuild';
import { PrivateKey } from '../../src/crypto/ed25519.ts';
import { sha256 } from '../../src/crypto/hash.ts';
import { canonicalizeJcs, canonicalizeTuf } from '../../src/encoding/canonical.ts';
import type { JsonValue } from '../../src/encoding/json.ts';
import { manifestSignedBytes, parseManifest } from '../../src/manifest/manifest.ts';
import { formatCheckpoint } from '../../src/note/checkpoint.ts';
import { formatCosignatureVerifierKey, newCosigner } from '../../src/note/cosignature.ts';
import { formatVerifierKey, newNoteSigner, signNote } from '../../src/note/note.ts';
import { get, putIncoming, start } from '../provider/harness.ts';
import { chromiumMissing, launchChromium } from '../support/chromium.ts';
import { REPO_ROOT } from '../support/cli.ts';
import { tmpDir } from '../support/tmp.ts';
import { vectorPath } from '../support/vectors.ts';

const missing = chromiumMissing();
if (missing !== undefined) process.stderr.write(`\n*** test/ui/crypto-vectors: ${missing} ***\n\n`);

function jsonDir(dir: string): unknown[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as unknown);
}

test('browser crypto gives the Node code verdicts on the shared vectors', { skip: missing, timeout: 180_000 }, async (t) => {
  const bundle = await build({
    stdin: { contents: "export { runVectors } from './test/vectors.ts';", resolveDir: join(REPO_ROOT, 'ui'), loader: 'ts' },
    bundle: true,
    format: 'iife',
    globalName: 'custodyVectors',
    write: false,
    target: 'es2022',
    logLevel: 'silent',
  });

  // Documents signed by the Node code.
  const jcsValues: JsonValue[] = [{ b: 1, a: [true, null, 'x'], 'é': 'ü', '\u20ac': 1e21, z: -0.5 }, { '\ud83d\ude00': '\u0007"\\' }, [1, 2.5, 'a\nb']];
  const tufValues: JsonValue[] = [{ signed: { b: 2, a: 'q"\\' }, keys: [] }, { '\u00e9': 'x\ny' }];
  const logKey = PrivateKey.fromSeed(sha256('dashboard log'));
  const log = newNoteSigner('example.com/log', logKey);
  const wKey = PrivateKey.fromSeed(sha256('dashboard witness'));
  const witness = newCosigner('witness.example/w1', wKey, { unixTime: () => 1_700_000_000 });
  const text = formatCheckpoint({ origin: 'example.com/log', size: 42, rootHash: new Uint8Array(32).fill(9) });
  const other = newNoteSigner('example.com/log', PrivateKey.fromSeed(sha256('not the log')));
  const signed = signNote(text, [log, witness]);
  // The witness line with one bit of its Ed25519 signature flipped (key id and timestamp intact).
  const tamperedCosig = signed.replace(/(\u2014 witness\.example\/w1 )([A-Za-z0-9+/=]+)\n$/, (_s, head: string, b64: string) => {
    const raw = Buffer.from(b64, 'base64');
    raw[raw.length - 1]! ^= 1;
    return `${head}${raw.toString('base64')}\n`;
  });
  assert.notEqual(tamperedCosig, signed);
  const wVkey = formatCosignatureVerifierKey('witness.example/w1', wKey.publicKey);
  const checkpoints = [
    { note: signed, ok: true, size: 42, witnessKey: wVkey, cosigned: 'verified' },
    { note: tamperedCosig, ok: true, size: 42, witnessKey: wVkey, cosigned: 'invalid' },
    // Another key under the witness's name: its key id differs, so the cosignature is not verified against it.
    { note: signed, ok: true, size: 42, witnessKey: formatCosignatureVerifierKey('witness.example/w1', logKey.publicKey), cosigned: 'unpinned' },
    { note: signNote(text, [other]), ok: false },
    { note: signed.replace('\n42\n', '\n43\n'), ok: false },
    { note: signNote(formatCheckpoint({ origin: 'example.com/other', size: 1, rootHash: new Uint8Array(32) }), [log]), ok: false },
  ];

  // A release the daemon (Node) signed and logged.
  const dir = tmpDir(t);
  const d0 = await start(t, join(dir, 'd'), { sample: false });
  putIncoming(d0, 'stable', 'x86_64', { vmlinuz: 'k'.repeat(1000), 'initramfs.img': 'i'.repeat(500) });
  await d0.rescan();
  const rootText = (await get(d0, '/trust/root.json')).body.toString('utf8');
  const manifestText = (await get(d0, '/stable/x86_64/manifest.json')).body.toString('utf8');
  const proofText = (await get(d0, '/stable/x86_64/manifest.json.tlog-proof')).body.toString('utf8');
  const node = {
    jcs: jcsValues.map((value) => ({ value, text: new TextDecoder().decode(canonicalizeJcs(value)) })),
    tuf: tufValues.map((value) => ({ value, text: new TextDecoder().decode(canonicalizeTuf(value)) })),
    logKey: formatVerifierKey('example.com/log', logKey.publicKey),
    checkpoints,
    release: {
      channel: 'stable',
      arch: 'x86_64',
      rootText,
      manifestText,
      proofText,
      fingerprint: d0.identity.fingerprint,
      now: new Date().toISOString(),
      signedBytes: new TextDecoder().decode(manifestSignedBytes(parseManifest(manifestText))),
      logVkey: d0.vkey,
    },
  };

  // A secure context for WebCrypto: a page on 127.0.0.1.
  const server = createServer((_req, res) => res.end('<!doctype html><title>vectors</title>'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const b = await launchChromium({ bypassCSP: true });
  t.after(() => b.close());
  const page = await b.browser.newPage();
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  await page.addScriptTag({ content: bundle.outputFiles[0]!.text });
  const args = [
    JSON.parse(readFileSync(vectorPath('wycheproof', 'ed25519_test.json'), 'utf8')) as unknown,
    jsonDir(vectorPath('merkle', 'inclusion')),
    jsonDir(vectorPath('merkle', 'consistency')),
    { ...node, logKey: node.logKey, release: node.release },
  ];
  // The release's log key differs from the checkpoint vectors' key: run the release with its own key.
  const releaseArgs = [args[0], [], [], { ...node, logKey: d0.vkey, checkpoints: [] }];
  type Outcome = { wrong: string[]; counts: Record<string, number> };
  const r1 = await page.evaluate<Outcome>(`custodyVectors.runVectors(...${JSON.stringify(args)}).catch(e => ({ wrong: ['threw: ' + e], counts: {} }))`);
  const r2 = await page.evaluate<Outcome>(`custodyVectors.runVectors(...${JSON.stringify(releaseArgs)}).catch(e => ({ wrong: ['threw: ' + e], counts: {} }))`);
  // r1 used the checkpoint vectors' key for the release: its release checks fail at "checkpoint" by design; keep the rest.
  const r1wrong = r1.wrong.filter((w) => !/^release refused|^other index|^tampered checkpoint/.test(w));
  assert.deepEqual(r1wrong, []);
  assert.deepEqual(r2.wrong, []);
  assert.equal(r1.counts.ed25519, 151);
  assert.ok((r1.counts.inclusion ?? 0) > 50 && (r1.counts.consistency ?? 0) > 50, JSON.stringify(r1.counts));
  assert.equal(r1.counts.checkpoints, 6);
});
