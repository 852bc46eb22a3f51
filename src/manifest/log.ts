/**
 * manifest/log — binding manifests to a transparency log (C2SP tlog-tiles log, tlog-proof@v1 offline proofs).
 *
 * The log entry for a manifest is this UTF-8 text, byte for byte (MANIFEST_LOG_ENTRY_HEADER, then four lines):
 *
 *   custody.manifest/v1
 *   channel stable
 *   arch x86_64
 *   sequence 1795305600
 *   digest sha256:<64 hex of SHA-256(manifest signed bytes)>
 *
 * (each line ends with "\n"). It names the signed body, not the signatures, so every signer's submission proves the
 * same thing, and a monitor reading the log learns which release each entry is. The proof is stored beside the
 * manifest as `<manifest>.tlog-proof`. `verifyManifestInclusion` recomputes the entry from the VERIFIED manifest —
 * never from the proof file — and checks the proof under the log's verifier key.
 */
import { encodeHex } from '../encoding/bytes.ts';
import { sha256 } from '../crypto/index.ts';
import { VerificationError } from '../errors.ts';
import { verifyProofFile } from '../note/proof.ts';
import type { Checkpoint } from '../note/checkpoint.ts';
import { manifestSignedBytes, type Manifest } from './manifest.ts';
import type { VerifiedManifest } from './verify.ts';

export const MANIFEST_LOG_ENTRY_HEADER = 'custody.manifest/v1';
/** MANIFEST_PROOF_SUFFIX is appended to a manifest's path to name its proof file. */
export const MANIFEST_PROOF_SUFFIX = '.tlog-proof';

/** manifestLogEntry returns the exact log entry bytes for a manifest. */
export function manifestLogEntry(m: Manifest): Uint8Array {
  const digest = 'sha256:' + encodeHex(sha256(manifestSignedBytes(m)));
  return new TextEncoder().encode(
    `${MANIFEST_LOG_ENTRY_HEADER}\nchannel ${m.channel}\narch ${m.arch}\nsequence ${m.sequence}\ndigest ${digest}\n`,
  );
}

export interface LoggedManifest {
  checkpoint: Checkpoint;
  index: number;
}

/**
 * verifyManifestInclusion checks that the verified manifest's entry is included in a checkpoint signed by the log
 * key `logKey` (a signed-note verifier key, `name+id+base64`). Missing proof → ERR_MANIFEST_LOG_PROOF_MISSING.
 */
export function verifyManifestInclusion(vm: VerifiedManifest, proofFile: Uint8Array | string | undefined, logKey: string): LoggedManifest {
  if (proofFile === undefined) {
    throw new VerificationError('ERR_MANIFEST_LOG_PROOF_MISSING', 'the manifest has no transparency-log inclusion proof');
  }
  const r = verifyProofFile(proofFile, { entry: manifestLogEntry(vm.manifest) }, logKey);
  return { checkpoint: r.checkpoint, index: r.index };
}
