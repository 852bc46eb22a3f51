/**
 * sbom/attest — an SBOM as an in-toto attestation (in-toto/attestation spec/v1 statement; predicate types from the
 * in-toto predicate list: spec/predicates/spdx.md `https://spdx.dev/Document`, spec/predicates/cyclonedx.md
 * `https://cyclonedx.org/bom`), signed in a DSSE envelope (attest/dsse).
 *
 * Subjects are what the SBOM speaks for, by SHA-256: each file of a directory (its relative name), the lockfile
 * itself, or the PSPF package file. The predicate is the SBOM document, byte-for-byte the JSON written beside it
 * (parsed from that text, so both carry the same content).
 */
import type { Signer } from '../crypto/index.ts';
import { DSSE_MAX_ENVELOPE_BYTES, signEnvelope, type DsseEnvelope } from '../attest/dsse.ts';
import { INTOTO_PAYLOAD_TYPE, STATEMENT_MAX_SUBJECTS, encodeStatement, type Subject } from '../attest/statement.ts';
import type { JsonObject } from '../encoding/json.ts';
import { LimitError, UsageError } from '../errors.ts';
import type { SbomInput } from './collect.ts';

/** SPDX_PREDICATE_TYPE: the in-toto predicate type of an SPDX document. */
export const SPDX_PREDICATE_TYPE = 'https://spdx.dev/Document';
/** CYCLONEDX_PREDICATE_TYPE: the in-toto predicate type of a CycloneDX BOM. */
export const CYCLONEDX_PREDICATE_TYPE = 'https://cyclonedx.org/bom';

/** SbomFormat names the two output formats. */
export type SbomFormat = 'spdx' | 'cyclonedx';

/** sbomSubjects lists the attestation subjects of an input (see the module doc), with sha256 digests. */
export function sbomSubjects(input: SbomInput): Subject[] {
  if (input.source) return [{ name: input.source.name, digest: { sha256: input.source.sha256 } }];
  if (input.files.length === 0) throw new UsageError('ERR_USAGE_ARGUMENT', 'the directory has no files: an attestation needs at least one subject');
  if (input.files.length > STATEMENT_MAX_SUBJECTS) {
    throw new LimitError('ERR_SBOM_OUTPUT_LIMIT', `${input.files.length} files are more subjects than a statement may carry (${STATEMENT_MAX_SUBJECTS})`);
  }
  return input.files.map((f) => ({ name: f.name, digest: { sha256: f.sha256 } }));
}

/**
 * attestSbom signs the SBOM text as the predicate of an in-toto Statement v1 over the input's subjects. An envelope
 * verifiers would refuse as too large (attest/dsse DSSE_MAX_ENVELOPE_BYTES) is refused here, ERR_SBOM_OUTPUT_LIMIT.
 */
export function attestSbom(input: SbomInput, format: SbomFormat, sbomText: string, signers: readonly Signer[]): DsseEnvelope {
  const predicate = JSON.parse(sbomText) as JsonObject;
  const payload = encodeStatement({
    subject: sbomSubjects(input),
    predicateType: format === 'spdx' ? SPDX_PREDICATE_TYPE : CYCLONEDX_PREDICATE_TYPE,
    predicate,
  });
  // The envelope carries the payload in base64 (4/3) plus a few hundred bytes of type and signatures.
  const envelopeBytes = Math.ceil(payload.length / 3) * 4 + 4096;
  if (envelopeBytes > DSSE_MAX_ENVELOPE_BYTES) {
    throw new LimitError('ERR_SBOM_OUTPUT_LIMIT', `the attestation would be about ${envelopeBytes} bytes, over the envelope cap of ${DSSE_MAX_ENVELOPE_BYTES}`, {
      details: { cap: DSSE_MAX_ENVELOPE_BYTES },
    });
  }
  return signEnvelope(INTOTO_PAYLOAD_TYPE, payload, signers);
}
