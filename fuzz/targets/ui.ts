/**
 * fuzz/targets/ui — the dashboard's own parsers of server-supplied bytes (ui/src, browser code run under Node's
 * WebCrypto, atob and TextEncoder): signed notes and checkpoints with witness cosignatures (ui/note), tlog-proof
 * files and the proof routes' JSON (ui/note, ui/api), the provider info (ui/api), trust roots (ui/verify parseRoot),
 * manifests through the whole in-browser release verification (ui/verify verifyRelease), audit events and their
 * chain (ui/audit), and the Prometheus text of /metrics (ui/prom).
 *
 * The oracle (docs/fuzzing.md): each call returns, or throws the dashboard's own UiError (ui/errors) — which the
 * wrapper below turns into a return — and never anything else: a SyntaxError, RangeError, DOMException or TypeError
 * escaping a parser is a finding (the page would show a platform error, or break, on a hostile answer).
 */
import { hashLeaf, hashReaderFunc, proveConsistency, proveInclusion, storedHashes, treeHash } from '../../src/tlog/merkle.ts';
import { sha256 } from '../../src/crypto/hash.ts';
import { canonicalizeJcs } from '../../src/encoding/canonical.ts';
import { encodeBase64, encodeHex } from '../../src/encoding/bytes.ts';
import { formatManifest } from '../../src/manifest/manifest.ts';
import { manifestLogEntry } from '../../src/manifest/log.ts';
import { signManifest } from '../../src/manifest/sign.ts';
import { formatCheckpoint } from '../../src/note/checkpoint.ts';
import { cosignCheckpoint, formatCosignatureVerifierKey, newCosigner } from '../../src/note/cosignature.ts';
import { formatVerifierKey, newNoteSigner, signNote } from '../../src/note/note.ts';
import { formatProofFile } from '../../src/note/proof.ts';
import { formatRoot } from '../../src/trust/root.ts';
import { key, manifestOf, NOW, rootOf } from '../../test/support/fixtures.ts';
import { parseConsistencyAnswer, parseInfo, parseProofAnswer } from '../../ui/src/api.ts';
import { parseAuditEvents, verifyAuditChain } from '../../ui/src/audit.ts';
import { UiError } from '../../ui/src/errors.ts';
import { leafHash, verifyInclusion } from '../../ui/src/merkle.ts';
import { openCheckpoint, parseNote, parseProofFile, parseVerifierKey, parseWitnessKey } from '../../ui/src/note.ts';
import { parsePrometheusText } from '../../ui/src/prom.ts';
import { parseRoot, verifyRelease } from '../../ui/src/verify.ts';
import { jsonFieldMutations, lineMutations } from '../structured.ts';
import { dec, enc, type FuzzTarget, type TargetInstance } from '../target.ts';

const ORIGIN = 'example.com/fuzz/ui-log';
const WITNESS = 'example.com/fuzz/ui-witness';

/** refusalsReturn runs a UI parser: a UiError is an accepted outcome (returned), anything else escapes as a finding. */
async function refusalsReturn(f: () => unknown): Promise<unknown> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof UiError) return { refused: e.message };
    throw e;
  }
}

/** Fixture is a small signed world: a root, a signed manifest logged at index 5 of 9, a cosigned checkpoint. */
interface Fixture {
  rootText: string;
  fingerprint: string;
  manifestText: string;
  proofText: string;
  cpNote: string;
  logVkey: string;
  witnessVkey: string;
  inclusionJson: string;
  consistencyJson: string;
  infoJson: string;
  /** entry is the manifest's log entry (index 5). */
  entry: Uint8Array;
}

let cached: Fixture | undefined;
function fixture(): Fixture {
  if (cached !== undefined) return cached;
  const keys = [key('ui-r1'), key('ui-r2')];
  const rootText = formatRoot(rootOf(keys, 2));
  let m = manifestOf({ kernel: { filename: 'vmlinuz', data: enc.encode('kernel') }, initrd: { filename: 'initrd.img', data: enc.encode('initrd') } });
  for (const k of keys) m = signManifest(m, k, { now: NOW });
  const entries = Array.from({ length: 9 }, (_, i) => (i === 5 ? manifestLogEntry(m) : enc.encode(`entry ${i}\n`)));
  const stored: Uint8Array[] = [];
  const reader = hashReaderFunc((ix) => ix.map((i) => stored[i]!));
  entries.forEach((e, i) => stored.push(...storedHashes(i, hashLeaf(e), reader)));
  const logKey = key('ui-log');
  const witnessKey = key('ui-witness');
  const cpText = formatCheckpoint({ origin: ORIGIN, size: 9, rootHash: treeHash(9, reader) });
  const cpNote = signNote(cpText, [newNoteSigner(ORIGIN, logKey)]) + cosignCheckpoint(cpText, newCosigner(WITNESS, witnessKey), 1_790_000_000);
  const proofText = formatProofFile({ index: 5, proof: proveInclusion(5, 9, reader), checkpoint: cpNote });
  const b64 = (x: Uint8Array): string => encodeBase64(x);
  cached = {
    rootText,
    fingerprint: 'sha256:' + encodeHex(sha256(enc.encode(rootText))),
    manifestText: formatManifest(m),
    proofText,
    entry: entries[5]!,
    cpNote,
    logVkey: formatVerifierKey(ORIGIN, logKey.publicKey),
    witnessVkey: formatCosignatureVerifierKey(WITNESS, witnessKey.publicKey),
    inclusionJson: JSON.stringify({ index: 3, size: 9, entry: b64(entries[3]!), proof: proveInclusion(3, 9, reader).map(b64) }),
    consistencyJson: JSON.stringify({ from: 4, to: 9, proof: proveConsistency(4, 9, reader).map(b64) }),
    infoJson: JSON.stringify({
      trust: { fingerprint: 'sha256:' + '0'.repeat(64), root_url: '/trust/root.json' },
      log: { url: '/log', vkey: formatVerifierKey(ORIGIN, logKey.publicKey), tree_size: 9 },
      releases: [{ channel: 'stable', arch: 'x86_64', version: '1.2.3', sequence: 7, digest: 'sha256:' + '1'.repeat(64), expires_at: '2026-12-21T00:00:00Z', log_index: 5, manifest_url: '/stable/x86_64/manifest.json' }],
    }),
  };
  return cached;
}

const json = (s: string): never => JSON.parse(s) as never;

/** textTarget builds a target over text inputs whose seeds are `texts`. */
function textTarget(name: string, parses: string, texts: (f: Fixture) => string[], structured: 'lines' | 'json', run: (s: string, f: Fixture) => unknown): FuzzTarget {
  return {
    name,
    parses,
    make(): Promise<TargetInstance> {
      const f = fixture();
      const seeds = texts(f);
      return Promise.resolve({
        seeds: seeds.map((t) => enc.encode(t)),
        structured: structured === 'lines' ? lineMutations(seeds) : jsonFieldMutations(seeds.map(json)),
        run: (input: Uint8Array) => refusalsReturn(() => run(dec.decode(input), f)),
      });
    },
  };
}

export const uiNote = textTarget('ui-note', 'dashboard: signed notes, checkpoints and witness cosignatures (ui/note)', (f) => [f.cpNote, f.logVkey + '\n\n' + f.witnessVkey + '\n'], 'lines', async (s, f) => {
  // The first line as a key (the Trust page parses what the operator pastes, and the log key the daemon announces).
  const line = s.split('\n')[0] ?? '';
  await parseVerifierKey(line).catch((e: unknown) => {
    if (!(e instanceof UiError)) throw e;
  });
  await parseWitnessKey(line).catch((e: unknown) => {
    if (!(e instanceof UiError)) throw e;
  });
  parseNote(s);
  return openCheckpoint(s, await parseVerifierKey(f.logVkey), [await parseWitnessKey(f.witnessVkey)]);
});

export const uiProof = textTarget('ui-proof', 'dashboard: tlog-proof@v1 files, opened and their inclusion checked (ui/note, ui/merkle)', (f) => [f.proofText], 'lines', async (s, f) => {
  const p = parseProofFile(s);
  const cp = await openCheckpoint(p.checkpoint, await parseVerifierKey(f.logVkey));
  return verifyInclusion(await leafHash(f.entry), p.index, cp.size, p.proof, cp.rootHash);
});

export const uiLogApi = textTarget('ui-log-api', 'dashboard: the JSON of GET /, /ui/api/log/proof and /ui/api/log/consistency (ui/api)', (f) => [f.inclusionJson, f.consistencyJson, f.infoJson], 'json', (s) => {
  // Each answer through each parser: a proof where info is expected is a refusal, never a crash.
  const out: unknown[] = [];
  for (const p of [parseProofAnswer, parseConsistencyAnswer, parseInfo]) {
    try {
      out.push(p(s));
    } catch (e) {
      if (!(e instanceof UiError)) throw e;
    }
  }
  return out;
});

export const uiRoot = textTarget('ui-root', 'dashboard: trust roots, self-verified in the browser code (ui/verify parseRoot)', (f) => [f.rootText], 'json', (s) => parseRoot(s, NOW));

export const uiManifest = textTarget('ui-manifest', 'dashboard: manifests through the in-browser release verification (ui/verify verifyRelease)', (f) => [f.manifestText], 'json', async (s, f) =>
  verifyRelease({ channel: 'stable', arch: 'x86_64', rootText: f.rootText, manifestText: s, proofText: f.proofText, pinnedFingerprint: f.fingerprint, logKey: await parseVerifierKey(f.logVkey), now: NOW }),
);

/** auditLines makes a 3-record chain as src/audit writes it. */
function auditLines(): string {
  let prev = '0'.repeat(64);
  let out = '';
  for (let seq = 1; seq <= 3; seq++) {
    const rec: Record<string, string | number> = { seq, time: `2026-11-2${seq}T00:00:00Z`, event: seq === 2 ? 'release.published' : 'daemon.started', prev, channel: 'stable' };
    const hash = encodeHex(sha256(enc.encode('custody-audit:v1:' + dec.decode(canonicalizeJcs(rec)))));
    out += dec.decode(canonicalizeJcs({ ...rec, hash })) + '\n';
    prev = hash;
  }
  return out;
}

export const uiAudit = textTarget('ui-audit', 'dashboard: audit events (JSON Lines) and their hash chain (ui/audit)', () => [auditLines()], 'lines', async (s) => verifyAuditChain(parseAuditEvents(s)));

const PROM_SAMPLE = `# HELP custody_http_requests_total HTTP responses
# TYPE custody_http_requests_total counter
custody_http_requests_total{handler="read",method="GET",status="200"} 12
custody_http_requests_total{handler="app",method="POST",status="429"} 3
custody_http_request_duration_seconds_bucket{le="+Inf",method="GET"} 5
custody_http_request_duration_seconds_sum{method="GET"} 0.0123
custody_log_size 42
weird_metric{a="q\\"x\\\\y\\nz"} -Inf 1700000000000
custody_gauge NaN
`;

export const uiMetrics = textTarget('ui-metrics', 'dashboard: Prometheus text of /metrics (ui/prom)', () => [PROM_SAMPLE], 'lines', (s) => parsePrometheusText(s));
