/**
 * policy/evidence — attestation files turned into verified evidence for the gate: each `.intoto.jsonl` file (in-toto
 * attestation bundle convention: one DSSE envelope per line) is parsed bounded, and every envelope verified under
 * the trusted keys (attest/verify), and SLSA v1 predicates parsed (attest/slsa). Any envelope that fails is an error
 * naming the file: evidence handed to the gate is never partly bad.
 */
import { parseJsonl, type EnvelopeKeys } from '../attest/dsse.ts';
import { SLSA_PROVENANCE_V1, parseProvenance } from '../attest/slsa.ts';
import { verifyAttestation, type VerifiedAttestation } from '../attest/verify.ts';
import { printable } from '../encoding/text.ts';
import { errorFromCode, isTrustError } from '../errors.ts';

/** ATTESTATION_FILE_SUFFIX names attestation files in a promotion directory and a provider's incoming directory. */
export const ATTESTATION_FILE_SUFFIX = '.intoto.jsonl';

/** verifyAttestationFile verifies every envelope of one .intoto.jsonl file; errors keep their code and name the file. */
export function verifyAttestationFile(bytes: Uint8Array, keys: EnvelopeKeys, now: Date, what: string): VerifiedAttestation[] {
  try {
    return parseJsonl(bytes).map((env, i) => {
      try {
        const v = verifyAttestation(env, keys, now);
        // Malformed provenance is bad evidence (ERR_SLSA_SCHEMA, ERR_SLSA_TIME_ORDER), refused before any policy.
        if (v.statement.predicateType === SLSA_PROVENANCE_V1) parseProvenance(v.statement.predicate);
        return v;
      } catch (e) {
        if (isTrustError(e)) throw errorFromCode(e.code, `envelope ${i + 1}: ${e.message}`, { cause: e, ...(e.details ? { details: { ...e.details } } : {}) });
        throw e;
      }
    });
  } catch (e) {
    if (isTrustError(e)) throw errorFromCode(e.code, `${printable(what, 200)}: ${e.message}`, { cause: e, ...(e.details ? { details: { ...e.details } } : {}) });
    throw e;
  }
}
