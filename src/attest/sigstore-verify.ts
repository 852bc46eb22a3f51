/**
 * attest/sigstore-verify — verification of Sigstore bundles v0.3 (sigstore/protobuf-specs sigstore_bundle.proto;
 * the checks follow the Sigstore client specification's verification steps for key-based bundles) against keys the
 * caller trusts, and of their transparency-log entries against the C2SP logs the caller trusts.
 *
 * Two kinds of bundle are accepted:
 *  - DSSE bundles (what Custody writes: `sign-blob`, `attest --bundle`): the envelope's signature by a threshold of
 *    the trusted Ed25519 keys (attest/dsse; a bundle holds one signature, so a threshold above 1 is never met) or by
 *    one trusted P-256 key (`cosign attest-blob --key`), an in-toto statement with a subject whose sha256 is the
 *    artifact's;
 *  - message-signature bundles with ECDSA P-256 keys (what `cosign sign-blob --key` writes): messageDigest SHA2_256
 *    equal to the artifact's SHA-256 and an ASN.1 DER signature over the artifact bytes by a trusted P-256 key.
 * Certificates (keyless, Fulcio) are refused (ERR_BUNDLE_UNSUPPORTED): Custody trusts keys, not identities.
 *
 * Transparency-log entries: each entry's body must describe the verified content (attest/sigstore-tlog
 * `checkTlogBody`). An entry of a trusted log (its logId is one of `logKeys`) must carry a valid inclusion proof under
 * a checkpoint signed by that log. An entry of a log the caller does not trust (Rekor, say) is refused with
 * ERR_BUNDLE_TLOG_UNTRUSTED — a claim of transparency we cannot check must not pass silently — unless the caller
 * says `ignoreTlog` (the CLI's `--insecure-ignore-tlog`); the body is still compared with the content then. A bundle
 * without entries verifies, and reports no inclusion: whether inclusion is required is the caller's policy.
 */
import { P256PublicKey, sha256, verifyP256 } from '../crypto/index.ts';
import { decodeHex, encodeHex } from '../encoding/bytes.ts';
import { printable } from '../encoding/text.ts';
import { FormatError, PolicyError, VerificationError } from '../errors.ts';
import type { Ed25519NoteVerifier } from '../note/note.ts';
import { bytesEqual } from '../tlog/merkle.ts';
import { pae, type EnvelopeKeys } from './dsse.ts';
import { parseBundle, type SigstoreBundle, type TlogEntry } from './sigstore-bundle.ts';
import { checkTlogBody, findLogKey, verifyLogInclusion, type BodyExpectation, type BodyKey, type LogInclusion } from './sigstore-tlog.ts';
import { requireSubject } from './statement.ts';
import { attestationFromVerified, verifyAttestation, type VerifiedAttestation } from './verify.ts';

/** VerifyBundleOptions are the trusted keys and logs, and the artifact a bundle must speak for. */
export interface VerifyBundleOptions {
  /** artifactSha256 is the lowercase hex SHA-256 of the artifact. */
  artifactSha256: string;
  /** artifact is the artifact's bytes; needed only for message-signature bundles (their signature covers the bytes). */
  artifact?: Uint8Array;
  /** keys are the trusted Ed25519 keys and threshold (attest/verify `keysFromRoot`, dsse `keysFromPublicKeys`). */
  keys: EnvelopeKeys;
  /** p256Keys are trusted ECDSA P-256 keys (cosign.pub) for message-signature bundles. */
  p256Keys?: readonly P256PublicKey[];
  /** logKeys are the note verifier keys of the C2SP logs whose entries are checked. */
  logKeys?: readonly Ed25519NoteVerifier[];
  /** ignoreTlog skips entries of logs not in logKeys instead of refusing them (their bodies are still compared). */
  ignoreTlog?: boolean;
  /**
   * predicateTypes are the statement predicate types a DSSE bundle may carry (ERR_BUNDLE_PREDICATE_TYPE otherwise);
   * absent, any. A signature says who signed, the predicate type what they claimed: a verifier that only asks "did
   * this key sign these bytes" must not accept a review that says `{"approved": false}`.
   */
  predicateTypes?: readonly string[];
  now?: Date;
}

/** VerifiedBundle is what a verified bundle establishes. */
export interface VerifiedBundle {
  /** attestation is the verified statement of a DSSE bundle. */
  attestation?: VerifiedAttestation;
  /** messageSigner is the hex SHA-256 of the SPKI DER of the P-256 key that signed a message-signature bundle. */
  messageSigner?: string;
  /** inclusion is the first entry verified in a trusted log. */
  inclusion?: LogInclusion;
  /** ignoredEntries counts entries of untrusted logs skipped under ignoreTlog. */
  ignoredEntries: number;
}

function unsupported(message: string): FormatError {
  return new FormatError('ERR_BUNDLE_UNSUPPORTED', message);
}

/**
 * verifyBundle parses and verifies a bundle for the artifact. Throws ERR_BUNDLE_* (and the ERR_DSSE_*,
 * ERR_INTOTO_*, ERR_ATTEST_SUBJECT_MISMATCH, ERR_NOTE_*, ERR_CHECKPOINT_*, ERR_TLOG_* codes of the layers below);
 * returns only what verified.
 *
 * @example
 * const v = verifyBundle(readFileSync('app.sigstore.json'), { artifactSha256, keys: keysFromRoot(root), logKeys: [parseVerifierKey(vkey)] });
 */
export function verifyBundle(input: Uint8Array | string, options: VerifyBundleOptions): VerifiedBundle {
  return verifyParsedBundle(parseBundle(input), options);
}

/** verifyParsedBundle is {@link verifyBundle} over an already parsed bundle. */
export function verifyParsedBundle(bundle: SigstoreBundle, options: VerifyBundleOptions): VerifiedBundle {
  const digestHex = options.artifactSha256;
  decodeHex(digestHex, 32, 'artifact sha256');
  if (bundle.key.type !== 'publicKey') {
    throw unsupported(`the bundle is signed with a ${bundle.key.type === 'certificate' ? 'certificate' : 'certificate chain'} (keyless); Custody verifies key-based bundles only`);
  }
  const out: VerifiedBundle = { ignoredEntries: 0 };
  let expect: BodyExpectation;
  if (bundle.content.type === 'dsseEnvelope') {
    const env = bundle.content.envelope;
    // A P-256 key (cosign attest-blob --key) signs PAE with ECDSA, DER-encoded; one trusted key suffices, as for
    // message signatures. Otherwise the Ed25519 keys and their threshold decide (attest/verify).
    const signed = pae(env.payloadType, env.payload);
    const p256 = (options.p256Keys ?? []).find((k) => verifyP256(k, signed, env.signatures[0]!.sig, 'der'));
    let attestation: VerifiedAttestation;
    let key: BodyKey;
    if (p256) {
      attestation = attestationFromVerified(env.payloadType, env.payload, [encodeHex(sha256(p256.spkiDer))]);
      key = p256;
    } else {
      attestation = verifyAttestation(env, options.keys, options.now ?? new Date());
      key = options.keys.authorized.get(attestation.signers[0]!)!.key;
    }
    requireSubject(attestation.statement, digestHex);
    const predicateType = attestation.statement.predicateType;
    if (options.predicateTypes !== undefined && !options.predicateTypes.includes(predicateType)) {
      throw new PolicyError(
        'ERR_BUNDLE_PREDICATE_TYPE',
        `the bundle's statement has predicate type "${printable(predicateType, 200)}", expected ${options.predicateTypes.map((t) => `"${printable(t, 200)}"`).join(' or ')}`,
        { details: { predicateType, accepted: [...options.predicateTypes] } },
      );
    }
    out.attestation = attestation;
    expect = { kind: 'dsse', envelope: env, key };
  } else {
    const ms = bundle.content.messageSignature;
    if (ms.digestAlgorithm !== 'SHA2_256') throw unsupported(`message digest algorithm ${printable(ms.digestAlgorithm, 40)}: only SHA2_256 is read`);
    // The digest is public; no constant time needed. Its check comes before the signature's so a bundle for other
    // bytes says so, rather than "bad signature".
    if (encodeHex(ms.digest) !== digestHex) {
      throw new VerificationError('ERR_BUNDLE_DIGEST_MISMATCH', `the bundle signs sha256:${encodeHex(ms.digest)}, the artifact is sha256:${digestHex}`, {
        details: { bundle: encodeHex(ms.digest), artifact: digestHex },
      });
    }
    const artifact = options.artifact;
    if (artifact === undefined) throw new Error('verifyBundle: a message-signature bundle needs options.artifact (its signature covers the bytes)');
    if (!bytesEqual(sha256(artifact), ms.digest)) {
      throw new VerificationError('ERR_BUNDLE_DIGEST_MISMATCH', 'the artifact bytes passed are not the ones whose sha256 was given');
    }
    // ECDSA_P256_SHA256 over the artifact bytes, DER-encoded (cosign, sigstore_common.proto PublicKeyDetails).
    const key = (options.p256Keys ?? []).find((k) => verifyP256(k, artifact, ms.signature, 'der'));
    if (!key) {
      throw new VerificationError('ERR_BUNDLE_SIGNATURE_INVALID', `the message signature verifies under none of the ${(options.p256Keys ?? []).length} trusted ECDSA P-256 keys`);
    }
    out.messageSigner = encodeHex(sha256(key.spkiDer));
    expect = { kind: 'hashedrekord', sha256Hex: digestHex, signature: ms.signature, key };
  }
  for (const entry of bundle.tlogEntries) {
    checkTlogBody(entry, expect);
    const inclusion = verifyEntry(entry, options);
    if (inclusion === undefined) out.ignoredEntries++;
    else out.inclusion ??= inclusion;
  }
  return out;
}

function verifyEntry(entry: TlogEntry, options: VerifyBundleOptions): LogInclusion | undefined {
  const logKey = findLogKey(entry, options.logKeys ?? []);
  if (logKey) return verifyLogInclusion(entry, logKey);
  if (options.ignoreTlog) return undefined;
  throw new PolicyError(
    'ERR_BUNDLE_TLOG_UNTRUSTED',
    `the bundle's log entry ${entry.logIndex} is in a log Custody does not trust (log id ${encodeHex(entry.logId).slice(0, 16)}…), so its inclusion cannot be checked`,
    { details: { logId: encodeHex(entry.logId), logIndex: entry.logIndex } },
  );
}
