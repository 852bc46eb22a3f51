/**
 * bench/sections/attest-worker — the loops of the `attest` section, run on the main thread (1 core) and in worker
 * threads (all cores): `raw` verifies the Ed25519 signature over the envelope's PAE bytes with a cached key (the
 * anchor); `attest` does what a verifier of a provenance attestation does with one .intoto.jsonl line: parse the
 * envelope (bounded JSON, base64), verify it (PAE, threshold over trusted keys), parse the in-toto statement and its
 * SLSA v1 predicate, and match the subject's digest; `floor` is what no verifier of that line can skip, with V8's
 * JSON.parse and no checks at all (both documents parsed, the payload decoded, the PAE built, the signature
 * verified, the subject found), to show how much of the gap to `raw` is Custody's checks and models.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { keysFromPublicKeys, parseEnvelope, pae, provenanceFromStatement, requireSubject, verifyAttestation } from '../../src/attest/index.ts';
import { PublicKey, verifyEd25519 } from '../../src/crypto/index.ts';

export interface LoopInput {
  /** line is one .intoto.jsonl line (the envelope as written). */
  line: string;
  publicKeyRaw: Uint8Array;
  subjectSha256: string;
  /** ms is the total time, shared by both modes. */
  ms: number;
}

export interface LoopRates {
  raw: number;
  attest: number;
  floor: number;
}

/** BATCH: iterations between clock reads. */
const BATCH = 16;
/**
 * SLICE_MS: the modes alternate in slices this long, so a machine whose load changes during the run (other jobs)
 * slows both alike and the ratio stays meaningful; measured back to back, the load of the moment decides it.
 */
const SLICE_MS = 20;

/** runLoop alternates `raw` and `attest` slices for `ms` milliseconds and returns each mode's verifications/s. */
export function runLoop(input: LoopInput): LoopRates {
  const publicKey = PublicKey.fromRaw(input.publicKeyRaw);
  const keys = keysFromPublicKeys([publicKey]);
  const now = new Date();
  // The anchor: the same signature over the same bytes, the envelope already decoded.
  const env = parseEnvelope(input.line);
  const message = pae(env.payloadType, env.payload);
  const sig = env.signatures[0]!.sig;
  const raw = (): void => {
    for (let i = 0; i < BATCH; i++) if (!verifyEd25519(publicKey, message, sig)) throw new Error('raw: a valid signature failed');
  };
  const attest = (): void => {
    for (let i = 0; i < BATCH; i++) {
      const v = verifyAttestation(parseEnvelope(input.line), keys, now);
      provenanceFromStatement(v.statement);
      requireSubject(v.statement, input.subjectSha256);
    }
  };
  const floor = (): void => {
    for (let i = 0; i < BATCH; i++) {
      const e = JSON.parse(input.line) as { payload: string; payloadType: string; signatures: Array<{ sig: string }> };
      const payload = Buffer.from(e.payload, 'base64');
      const head = Buffer.from(`DSSEv1 ${Buffer.byteLength(e.payloadType)} ${e.payloadType} ${payload.length} `);
      if (!verifyEd25519(publicKey, Buffer.concat([head, payload]), Buffer.from(e.signatures[0]!.sig, 'base64'))) throw new Error('floor: a valid signature failed');
      const st = JSON.parse(payload.toString('utf8')) as { subject: Array<{ digest: { sha256?: string } }> };
      if (!st.subject.some((x) => x.digest.sha256 === input.subjectSha256)) throw new Error('floor: no subject');
    }
  };
  const modes = { raw, attest, floor } as const;
  const count = { raw: 0, attest: 0, floor: 0 };
  const spent = { raw: 0, attest: 0, floor: 0 };
  const order = ['raw', 'attest', 'floor'] as const;
  const end = performance.now() + input.ms;
  for (let turn = 0; performance.now() < end; turn++) {
    const mode = order[turn % order.length]!;
    const f = modes[mode];
    const t0 = performance.now();
    const stop = t0 + SLICE_MS;
    let t = t0;
    while (t < stop) {
      f();
      count[mode] += BATCH;
      t = performance.now();
    }
    spent[mode] += t - t0;
  }
  return { raw: count.raw / (spent.raw / 1000), attest: count.attest / (spent.attest / 1000), floor: count.floor / (spent.floor / 1000) };
}

if (!isMainThread && parentPort !== null && (workerData as { attestBench?: LoopInput } | null)?.attestBench !== undefined) {
  const input = (workerData as { attestBench: LoopInput }).attestBench;
  parentPort.postMessage(runLoop({ ...input, publicKeyRaw: new Uint8Array(input.publicKeyRaw) }));
}
