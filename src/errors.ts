/**
 * errors — the one error model of Custody (docs/errors.md).
 *
 * Every refusal is a {@link TrustError} carrying a stable `code` (`ERR_<AREA>_<CONDITION>`), a lowercase message
 * that never contains secrets, and a hint telling the operator what to do next. Codes are API: each one is listed in
 * `docs/errors.md` and a test keeps the table below, that document, the HTTP status map and the CLI exit-code map in
 * sync. A retired code is never reused.
 *
 * The class tells the caller what to do next:
 * - `VerificationError` — the evidence is invalid (bad signature, hash mismatch, threshold unmet).
 * - `PolicyError` — the evidence is valid but not accepted (untrusted signer, expired, rollback).
 * - `FormatError` — malformed input (attacker-controlled bytes never leak a raw SyntaxError/RangeError).
 * - `LimitError` — input too big, too deep or too many.
 * - `ConfigError` — an operator problem (missing passphrase, bad flag value, unreadable key file).
 * - `UsageError` — the command line itself is wrong.
 * - `IoError` — a file or network operation failed; retrying may help.
 *
 * Programming bugs stay plain `Error`; the CLI reports one as `ERR_INTERNAL` (kind `internal`, exit 70), the one code
 * no class throws.
 */

/** ErrorKind selects the class, the CLI exit code and the default HTTP status family. */
export type ErrorKind = 'verification' | 'policy' | 'format' | 'limit' | 'config' | 'usage' | 'io' | 'internal';

type CodeSpec = readonly [kind: ErrorKind, httpStatus: number, hint: string];

/**
 * ERROR_CODES is the single table of codes: kind, HTTP status and default hint. Add new codes to the area block
 * they belong to, and add the same row to docs/errors.md.
 */
export const ERROR_CODES = {
  // --- internal: an uncoded (programming) error reached the CLI; never thrown on purpose ---
  ERR_INTERNAL: ['internal', 500, 'this is a bug in custody; please report it with the command line (without secrets)'],

  // --- usage / config (CLI and operator) ---
  ERR_USAGE_ARGUMENT: ['usage', 400, 'run the command with --help to see its synopsis and options'],
  ERR_USAGE_UNKNOWN_COMMAND: ['usage', 404, 'run `custody --help` to list the commands'],
  ERR_CONFIG_INVALID: ['config', 500, 'check the value named in the message against the documentation'],
  ERR_CONFIG_PASSPHRASE_REQUIRED: [
    'config',
    500,
    'pass --passphrase-file FILE or set CUSTODY_PASSPHRASE; a passphrase is never read from the command line',
  ],
  ERR_CONFIG_PASSPHRASE_WRONG: ['config', 500, 'the passphrase does not open this key; check the passphrase file'],
  ERR_CONFIG_KEY_PERMISSIONS: ['config', 500, 'private key files must not be readable by others: chmod 600 FILE'],

  // --- I/O ---
  ERR_IO_NOT_FOUND: ['io', 404, 'check that the path exists and is readable'],
  ERR_IO_EXISTS: ['io', 409, 'the output exists; choose another path or pass --force to replace it'],
  ERR_IO_WRITE_FAILED: ['io', 500, 'check free space and permissions of the output directory; nothing was written'],
  ERR_IO_READ_FAILED: ['io', 500, 'check that the file is readable and not being changed while it is read'],
  ERR_IO_NOT_REGULAR_FILE: ['io', 400, 'pass a regular file; symlinks, directories and devices are refused'],
  ERR_IO_NETWORK: ['io', 502, 'check that the server is reachable and retry'],

  // --- HTTP surfaces in general (daemon, log server, witness), where no area-specific code applies ---
  ERR_HTTP_RATE_LIMITED: ['io', 429, 'too many requests from this client; wait for the seconds in the Retry-After header'],
  ERR_HTTP_INTERNAL: ['io', 500, 'the server failed to handle the request; retry, and if it persists the operator finds the cause in the server log'],

  // --- audit log ---
  ERR_AUDIT_CHAIN_BROKEN: [
    'verification',
    422,
    'a record of the audit log was edited, deleted, inserted or reordered at the line named; keep the file as evidence',
  ],
  ERR_AUDIT_RECORD_MALFORMED: [
    'format',
    400,
    'the line is not a canonical custody audit record (docs/audit.md); keep the file as evidence and inspect that line',
  ],
  ERR_AUDIT_HEAD_MISSING: [
    'verification',
    422,
    'no record has the anchored head hash: the audit log was truncated or rewritten; keep the file as evidence',
  ],

  // --- encoding (JSON, hex, base64, UTF-8, PEM) ---
  ERR_FORMAT_JSON: ['format', 400, 'the document is not valid JSON; check that it was not truncated or edited'],
  ERR_FORMAT_JSON_DUPLICATE_KEY: ['format', 400, 'a JSON object repeats a key; signed documents must be unambiguous'],
  ERR_FORMAT_JSON_FORBIDDEN_KEY: ['format', 400, 'keys such as __proto__ and constructor are refused in documents'],
  ERR_FORMAT_JSON_NUMBER: ['format', 400, 'numbers must be integers within ±(2^53−1) written without fraction or exponent'],
  ERR_FORMAT_UTF8: ['format', 400, 'the input must be valid UTF-8'],
  ERR_FORMAT_HEX: ['format', 400, 'expected lowercase hexadecimal of the stated length'],
  ERR_FORMAT_BASE64: ['format', 400, 'expected canonical standard base64 (with padding) of the stated length'],
  ERR_FORMAT_SCHEMA: ['format', 400, 'a field is missing or has the wrong type; compare with the documented shape'],
  ERR_LIMIT_SIZE: ['limit', 413, 'the input is larger than the documented cap'],
  ERR_LIMIT_DEPTH: ['limit', 413, 'the input nests deeper than the documented cap'],
  ERR_LIMIT_COUNT: ['limit', 413, 'the input has more items than the documented cap'],
  ERR_LIMIT_KDF_COST: ['limit', 413, 'the file asks for a costlier key derivation (scrypt or PBKDF2) than Custody or this caller runs; rewrite it at a usual cost (a sealed key at the default, or openssl pkcs8 -iter 600000)'],

  // --- keys ---
  ERR_KEY_INVALID: ['format', 400, 'expected an Ed25519 key as PEM (PKCS#8 private, SPKI public), 64 hex chars or base64'],
  ERR_KEY_UNSUPPORTED: ['format', 400, 'only Ed25519 keys are supported'],
  ERR_KEY_SIGNATURE_LENGTH: ['format', 400, 'an Ed25519 signature is exactly 64 bytes'],

  // --- manifests ---
  ERR_MANIFEST_SCHEMA: ['format', 400, 'the manifest does not have the documented shape; see docs/manifest.md'],
  ERR_MANIFEST_ARTIFACT_NAME: ['format', 400, 'artifact names and filenames must not contain "/", "\\" or ".."'],
  ERR_MANIFEST_SIGNATURE_INVALID: ['verification', 422, 'the manifest or its signature was altered; re-sign it'],
  ERR_MANIFEST_THRESHOLD_UNMET: [
    'verification',
    422,
    'collect signatures from more of the keys the trust root authorizes (custody sign-manifest)',
  ],
  ERR_MANIFEST_EXPIRED: ['policy', 422, 'the manifest is past expires_at; publish a freshly signed manifest'],
  ERR_MANIFEST_NOT_YET_VALID: ['policy', 422, 'created_at is in the future; check the clocks of signer and verifier'],
  ERR_MANIFEST_ROLLBACK: [
    'policy',
    422,
    'the manifest sequence is lower than one already seen; an old manifest is being replayed',
  ],
  ERR_MANIFEST_WRONG_TARGET: [
    'policy',
    422,
    'the provider answered with a validly signed manifest of another channel/arch; do not use it, try another provider',
  ],
  ERR_MANIFEST_BODY_CHANGED: [
    'usage',
    409,
    'the manifest changed since it was signed; pass --resign to drop the old signatures and sign anew',
  ],
  ERR_MANIFEST_NO_SUPPORTED_HASH: ['verification', 422, 'the manifest offers no hash algorithm Custody supports'],
  ERR_MANIFEST_LOG_PROOF_MISSING: [
    'verification',
    422,
    'the manifest has no tlog-proof beside it (MANIFEST.tlog-proof); sign it with --log URL or pass --log-proof FILE',
  ],

  // --- artifacts ---
  ERR_ARTIFACT_NOT_IN_MANIFEST: ['verification', 422, 'the file name matches no artifact the manifest signs'],
  ERR_ARTIFACT_SIZE_MISMATCH: ['verification', 422, 'the file is not the one the manifest signs: DO NOT USE IT'],
  ERR_ARTIFACT_HASH_MISMATCH: ['verification', 422, 'the file is not the one the manifest signs: DO NOT USE IT'],

  // --- provider daemon (custody serve) and its client (custody fetch, custody publish) ---
  ERR_PROVIDER_UNAUTHORIZED: ['policy', 401, 'send `Authorization: Bearer <token>` with the token from the daemon data directory (admin.token)'],
  ERR_PROVIDER_RATE_LIMITED: ['io', 429, 'too many requests; wait for the seconds in the Retry-After header'],
  ERR_PROVIDER_NOT_FOUND: ['io', 404, 'list what the provider publishes: GET / on the provider answers its channels and archs'],
  ERR_PROVIDER_RANGE: ['io', 416, 'the requested byte range starts beyond the end of the artifact'],
  ERR_PROVIDER_CHANNEL_NAME: ['format', 400, 'channel and arch names are 1–64 characters a-z 0-9 . _ - starting with a letter or digit'],
  ERR_PROVIDER_VERSION_INVALID: [
    'format',
    400,
    'a release version is 1–64 visible ASCII characters (in the incoming directory: the first line of a short .version file)',
  ],
  ERR_PROVIDER_INCOMING_ESCAPE: [
    'policy',
    422,
    'a file of the incoming directory resolves outside it (a symlinked directory?); put the files themselves in incoming/',
  ],
  ERR_PROVIDER_BLOB_MISSING: ['format', 409, 'upload every blob (PUT /admin/v1/blobs/sha256/<hex>) before releasing it'],
  ERR_PROVIDER_BLOB_MISMATCH: ['verification', 422, 'the bytes do not hash to the digest they were sent under; nothing was stored'],
  ERR_PROVIDER_RELEASE_EMPTY: ['format', 400, 'a release lists at least one artifact'],
  ERR_PROVIDER_SIGNER_UNAUTHORIZED: [
    'config',
    500,
    'the daemon key must be a current targets key of its trust root, and the targets threshold must be 1',
  ],
  ERR_PROVIDER_ROOT_FINGERPRINT: [
    'verification',
    422,
    'the trust root the provider served is not the one pinned; check the fingerprint with the provider operator',
  ],
  ERR_PROVIDER_RESPONSE: ['io', 502, 'the provider answered something unexpected; retry or try another provider'],

  // --- tlog service / witness ---
  ERR_LOG_UNAUTHORIZED: ['policy', 401, 'send `Authorization: Bearer <token>` with the token from the log --token-file'],
  ERR_LOG_ENTRY_TOO_LARGE: [
    'limit',
    413,
    'a log entry is at most 65,535 bytes (C2SP tlog-tiles uint16 lengths); log a digest of larger data',
  ],
  ERR_LOG_ENTRY_EMPTY: ['format', 400, 'send the entry bytes as the request body (application/octet-stream)'],
  ERR_LOG_TILE_NOT_FOUND: [
    'io',
    404,
    'the tile lies beyond the published tree or its width matches no published checkpoint; fetch the checkpoint first',
  ],
  ERR_LOG_OVERLOADED: ['io', 503, 'too many entries are waiting to be sequenced; retry after a short pause'],
  ERR_LOG_RATE_LIMITED: ['io', 429, 'this client sent too many entries; wait for the seconds in the Retry-After header'],
  ERR_LOG_NOT_PUBLISHED: [
    'io',
    503,
    'the entry is durable but no checkpoint covering it was published in time; look for it in the tiles later',
  ],
  ERR_LOG_STORAGE: ['io', 503, 'the log storage failed; the entry was not acknowledged: retry (it may then appear twice)'],
  ERR_LOG_CLOSED: ['io', 503, 'the log is stopping or stopped after a fatal error; retry against a running instance'],
  ERR_LOG_LOCKED: [
    'config',
    409,
    'another process holds this data directory; stop it first (a crashed holder is taken over automatically)',
  ],
  ERR_LOG_LEASE_LOST: ['io', 503, 'another process took over this log; this instance stopped so the log cannot fork'],
  ERR_LOG_CONFLICT: [
    'io',
    503,
    'the durable log state changed under this process (compare-and-swap failed); it stopped so the log cannot fork',
  ],
  ERR_LOG_STATE_CORRUPT: [
    'config',
    500,
    'the stored log state contradicts itself or the signing key; restore the data directory from a backup',
  ],
  ERR_LOG_FORK: [
    'verification',
    422,
    'the log signed two checkpoints that are not consistent: keep both as evidence and stop trusting the log',
  ],
  ERR_LOG_ENTRY_MISMATCH: ['verification', 422, 'the entry differs from the one the log holds at that index'],
  ERR_LOG_RESPONSE: ['io', 502, 'the server did not answer in the C2SP tlog formats; check the URL'],
  ERR_WITNESS_REQUEST: [
    'format',
    400,
    'an add-checkpoint body is "old <size>", at most 63 base64 proof lines, an empty line and the checkpoint',
  ],
  ERR_WITNESS_OLD_SIZE: ['format', 400, 'the old size must not exceed the size of the submitted checkpoint'],
  ERR_WITNESS_UNKNOWN_LOG: ['policy', 404, 'this witness is not configured for the log origin; start it with --log VKEY'],
  ERR_WITNESS_BAD_SIGNATURE: ['verification', 403, 'the checkpoint has no valid signature by a log key the witness trusts'],
  ERR_WITNESS_CONFLICT: ['policy', 409, 'the witness holds another size for this log; retry with the old size it answered'],
  ERR_WITNESS_ROOT_MISMATCH: [
    'verification',
    409,
    'same size, different root: the log forked; keep both checkpoints as evidence',
  ],
  ERR_WITNESS_PROOF_INVALID: ['verification', 422, 'the consistency proof does not link the cosigned checkpoint to the new one'],
  ERR_WITNESS_THRESHOLD_UNMET: [
    'io',
    503,
    'fewer witnesses cosigned than --witness-threshold requires; check that they run and know this log',
  ],
  ERR_WITNESS_RESPONSE: ['io', 502, 'the witness did not answer with cosignature lines; check its URL and key'],

  // --- tlog / note / checkpoint ---
  ERR_TLOG_RANGE: [
    'format',
    400,
    'an index must be below the tree size, an old size at most the new size, and sizes within the documented cap',
  ],
  ERR_TLOG_HASH_LENGTH: ['format', 400, 'Merkle tree hashes are exactly 32 bytes (SHA-256, RFC 6962)'],
  ERR_TLOG_INCLUSION_INVALID: [
    'verification',
    422,
    'the entry is not in the tree with this root: the proof, the entry or the checkpoint was altered',
  ],
  ERR_TLOG_CONSISTENCY_INVALID: [
    'verification',
    422,
    'the two tree heads are not consistent: the log may have forked or rewritten history; keep both checkpoints',
  ],
  ERR_TLOG_TILE_PATH: ['format', 400, 'tile paths are tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>] (c2sp.org/tlog-tiles)'],
  ERR_TLOG_TILE_INVALID: [
    'verification',
    422,
    'a fetched tile does not match the signed tree head; fetch it again, from another mirror if possible',
  ],
  ERR_TLOG_ENTRY_BUNDLE: ['format', 400, 'an entry bundle is a sequence of big-endian uint16 length-prefixed entries'],
  ERR_TLOG_PROOF_MALFORMED: ['format', 400, 'the file is not a c2sp.org/tlog-proof@v1 proof; check that it was not truncated'],
  ERR_NOTE_MALFORMED: [
    'format',
    400,
    'a signed note is UTF-8 text ending in a newline, a blank line, then lines "— <name> <base64>" (c2sp.org/signed-note)',
  ],
  ERR_NOTE_KEY_INVALID: ['format', 400, 'expected a note key "<name>+<8 hex key id>+<base64 type||key>" whose id matches'],
  ERR_NOTE_SIGNATURE_INVALID: [
    'verification',
    422,
    'a trusted key signed this note but the signature does not verify: the note was altered',
  ],
  ERR_NOTE_UNKNOWN_KEY: ['verification', 422, 'no trusted key signed this note; check the configured verifier keys'],
  ERR_CHECKPOINT_MALFORMED: [
    'format',
    400,
    'a checkpoint is an origin line, a decimal tree size and a base64 SHA-256 root hash (c2sp.org/tlog-checkpoint)',
  ],
  ERR_CHECKPOINT_ORIGIN_MISMATCH: ['policy', 422, 'the checkpoint is for another log origin than the one configured'],
  ERR_COSIGNATURE_MALFORMED: [
    'format',
    400,
    'a cosignature/v1 is key id (4) || big-endian timestamp (8) || Ed25519 signature (64), base64 encoded',
  ],
  ERR_COSIGNATURE_INVALID: ['verification', 422, 'the witness cosignature does not verify for this checkpoint and key'],
  ERR_COSIGNATURE_FUTURE: ['policy', 422, 'the cosignature timestamp is in the future; check the clocks of witness and verifier'],

  // --- packages (PSPF) and archives ---
  ERR_PKG_TRUNCATED: ['format', 400, 'the package file is shorter than its trailer or index says; download it again'],
  ERR_PKG_MAGIC: ['format', 400, 'not a PSPF/2025 package (trailer magic missing): the file is truncated, appended to or another format'],
  ERR_PKG_INDEX_CHECKSUM: ['verification', 422, 'the package index was altered (adler-32 mismatch; a zero checksum is refused, not "off")'],
  ERR_PKG_VERSION_UNSUPPORTED: ['format', 400, 'only PSPF/2025 format_version 0x20250001 is supported'],
  ERR_PKG_LAYOUT: ['format', 400, 'an offset or size in the package points outside the file or disagrees with it; the package is corrupt or hostile'],
  ERR_PKG_SLOT_OVERLAP: ['format', 400, 'two slots (or a slot and the metadata/launcher) share bytes; the package is hostile or corrupt'],
  ERR_PKG_SLOT_LIMIT: ['limit', 413, 'the package has more slots than the cap; raise it only for a package you expect to be that large'],
  ERR_PKG_METADATA_LIMIT: ['limit', 413, 'the package metadata is larger than the cap once decompressed (a gzip bomb?)'],
  ERR_PKG_METADATA_FORMAT: ['format', 400, 'the package metadata is not the JSON PSPF/2025 builders write; see docs/packages.md'],
  ERR_PKG_METADATA_CHECKSUM: ['verification', 422, 'the package metadata bytes were altered (sha-256 mismatch with the index)'],
  ERR_PKG_UNSIGNED: ['verification', 422, 'the package carries no signature; rebuild it with a signing key'],
  ERR_PKG_SIGNATURE_INVALID: ['verification', 422, 'the package metadata or its signature was altered: DO NOT USE IT'],
  ERR_PKG_UNTRUSTED_SIGNER: [
    'policy',
    422,
    'the package is intact but its signer is not trusted: pin the key with --trusted-key KEY, list it in CUSTODY_ALLOWED_KEYS, or authorize it in a trust root with --trust ROOT.json; --allow-any-signer accepts any signer (intact only)',
  ],
  ERR_PKG_DESCRIPTOR_MISMATCH: ['verification', 422, 'the unsigned slot table disagrees with the signed metadata: the package was altered'],
  ERR_PKG_OPERATIONS_MISMATCH: ['verification', 422, 'a slot\'s operations differ from the signed ones or from its content: the package was altered'],
  ERR_PKG_OPERATION_UNSUPPORTED: ['format', 400, 'the slot uses an operation custody cannot decode (zstd, unknown codes, tar not first)'],
  ERR_PKG_SLOT_DIGEST_MISMATCH: ['verification', 422, 'a slot\'s bytes differ from the signed sha-256: the package was altered, DO NOT USE IT'],
  ERR_PKG_LAUNCHER_DIGEST_MISMATCH: ['verification', 422, 'the launcher differs from the signed sha-256: the package was altered, DO NOT RUN IT'],
  ERR_PKG_SIZE_MISMATCH: ['verification', 422, 'a declared size disagrees with the signed metadata or the decoded data'],
  ERR_PKG_SLOT_ID_INVALID: [
    'format',
    400,
    'a slot id is a file name: 1-255 bytes of UTF-8 without "/", "\\", "." or "..", NUL or control characters',
  ],
  ERR_PKG_SLOT_NOT_FOUND: ['usage', 404, 'name a slot by its index or id; `custody inspect PACKAGE` lists them'],
  ERR_PKG_ARCHIVE_FORMAT: ['format', 400, 'a slot\'s tar or compressed data is malformed'],
  ERR_PKG_PATH_ESCAPE: ['policy', 422, 'an entry would land outside the destination (absolute path, "..", or a link escape); refused'],
  ERR_PKG_PATH_INVALID: ['policy', 422, 'an entry name is empty, too long or contains control characters, backslashes or "." parts'],
  ERR_PKG_PATH_COLLISION: ['policy', 422, 'two entries have the same name, or names that differ only in case'],
  ERR_PKG_LINK_REFUSED: ['policy', 422, 'the archive contains symlinks or hardlinks, which are refused by default'],
  ERR_PKG_SPECIAL_FILE: ['policy', 422, 'the archive contains a device, fifo or other special entry; refused'],
  ERR_PKG_MODE_REFUSED: ['policy', 422, 'an entry has setuid, setgid or sticky bits; refused'],
  ERR_PKG_SIZE_LIMIT: ['limit', 413, 'the extracted data would exceed the size cap; raise it only for a package you trust to be that large'],
  ERR_PKG_ENTRY_LIMIT: ['limit', 413, 'the archive has more entries than the cap'],
  ERR_PKG_RATIO_LIMIT: ['limit', 413, 'the data expands more than the compression-ratio cap allows (a decompression bomb?)'],

  // --- detached signature sets (threshold signatures over a file digest) ---
  ERR_SIGSET_SCHEMA: ['format', 400, 'the signature set is not a custody.signature-set/v1 document; see docs/packages.md'],
  ERR_SIGSET_DIGEST_MISMATCH: [
    'verification',
    422,
    'the signature set covers another file (its sha-256 differs): the file was changed or the wrong .sigs file was given',
  ],
  ERR_SIGSET_THRESHOLD_UNMET: [
    'verification',
    422,
    'collect signatures from more of the keys the trust root authorizes (custody sign-package)',
  ],

  // --- DSSE envelopes and in-toto statements (attest) ---
  ERR_DSSE_SCHEMA: ['format', 400, 'the envelope is not a DSSE JSON envelope {payload, payloadType, signatures[{keyid, sig}]}; see docs/attestations.md'],
  ERR_DSSE_PAYLOAD_TYPE: [
    'format',
    400,
    'the envelope carries another kind of payload than this command reads: in-toto attestations are application/vnd.in-toto+json, signed sums application/vnd.custody.sha256sums',
  ],
  ERR_DSSE_THRESHOLD_UNMET: [
    'verification',
    422,
    'the envelope needs signatures from more of the trusted keys (the trust root\'s targets role, or --key); check that it was signed by the expected keys and not changed since',
  ],
  ERR_INTOTO_SCHEMA: ['format', 400, 'the payload is not an in-toto Statement v1 {_type, subject, predicateType, predicate}; see docs/attestations.md'],
  ERR_INTOTO_SUBJECT_DUPLICATE: ['format', 400, 'each subject of a statement must have a distinct name'],
  ERR_INTOTO_DIGEST_UNSUPPORTED: ['format', 400, 'give each subject a sha256 (or sha512) digest; digests of unknown algorithms alone identify nothing'],
  ERR_ATTEST_SUBJECT_MISMATCH: [
    'verification',
    422,
    'the attestation speaks for other bytes than this artifact; attest the file you ship, or pass the attestation made for it',
  ],

  // --- trust root (TUF root.json) ---
  ERR_TRUST_SCHEMA: ['format', 400, 'the trust root is not a TUF root.json; see docs/trust.md'],
  ERR_TRUST_THRESHOLD_UNMET: ['verification', 422, 'the root needs more signatures from the keys of its root role'],
  ERR_TRUST_EXPIRED: ['policy', 422, 'the trust root is past its expires date; sign a new root version'],
  ERR_TRUST_VERSION: ['policy', 422, 'a new root must have version N+1 of the root it replaces'],
  ERR_TRUST_ROLLBACK: ['policy', 422, 'the trust root version is lower than one already trusted'],
  ERR_TRUST_UNKNOWN_KEY: ['usage', 400, 'the key id is not in this trust root; run `custody trust show`'],
  ERR_TRUST_ROLE: ['format', 400, 'the trust root lacks a required role or the role is malformed'],
  ERR_TRUST_KEYID_MISMATCH: [
    'format',
    400,
    'a key id in the root is not the TUF key id of its key (TUF §4.3); a root written before TUF key ids must be rewritten: see docs/trust.md "Key ids"',
  ],

  // --- sigstore bundles (issue 10) ---
  ERR_BUNDLE_SCHEMA: ['format', 400, 'the file is not a Sigstore bundle v0.3 in protobuf JSON (or the trusted root is malformed); see docs/attestations.md "Sigstore bundles"'],
  ERR_BUNDLE_MEDIA_TYPE: ['format', 400, 'Custody reads Sigstore bundles v0.3 (application/vnd.dev.sigstore.bundle.v0.3+json); re-create older bundles with a current signer'],
  ERR_BUNDLE_UNSUPPORTED: [
    'format',
    400,
    'Custody verifies key-based bundles: DSSE with Ed25519 keys, or message signatures (SHA2_256) with ECDSA P-256 keys, logged as dsse or hashedrekord v0.0.1; certificates (keyless) are not read',
  ],
  ERR_BUNDLE_DIGEST_MISMATCH: ['verification', 422, 'the bundle signs other bytes than this file; pass the file the bundle was made for'],
  ERR_BUNDLE_SIGNATURE_INVALID: ['verification', 422, 'the signature verifies under none of the trusted keys; pass the signer\'s public key with --key, or the bundle was changed'],
  ERR_BUNDLE_TLOG_BODY_MISMATCH: ['verification', 422, 'the transparency-log entry describes other content than the bundle carries; the bundle was changed or assembled from parts'],
  ERR_BUNDLE_INCLUSION_MISMATCH: ['verification', 422, 'the inclusion proof does not belong to the entry or checkpoint beside it; the bundle was changed'],
  ERR_BUNDLE_TLOG_UNTRUSTED: [
    'policy',
    422,
    'the bundle claims a transparency-log entry in a log you did not name; pass that log\'s key (--log-key, or --trusted-root), or --insecure-ignore-tlog to skip entries of unknown logs',
  ],

  // --- SLSA provenance (attest/slsa) ---
  ERR_SLSA_SCHEMA: [
    'format',
    400,
    'the predicate is not SLSA Provenance v1 {buildDefinition {buildType, externalParameters, …}, runDetails {builder {id}, …}}; see docs/attestations.md',
  ],
  ERR_SLSA_PREDICATE_TYPE: ['format', 400, 'the statement is another kind of attestation; SLSA provenance v1 has predicateType https://slsa.dev/provenance/v1'],
  ERR_SLSA_TIME_ORDER: ['format', 400, 'runDetails.metadata.startedOn must not be later than finishedOn; check the clock and the order of --started-on/--finished-on'],
  // --- offline vulnerabilities (vuln), SBOM reading (sbom/read), ZIP reading (archive/zip), rebuild check (issue 10) ---
  ERR_ZIP_FORMAT: ['format', 400, 'the file is not a well-formed ZIP archive (or an entry fails its CRC-32); check that it was not truncated'],
  ERR_ZIP_UNSUPPORTED: [
    'format',
    400,
    'the ZIP uses a feature custody does not read (zip64, encryption, multi-disk, a method other than stored or deflate); repack it plainly',
  ],
  ERR_ZIP_PATH: ['format', 400, 'an entry name is absolute, contains "..", backslashes, NUL or control characters, or repeats another name'],
  ERR_ZIP_ENTRY_LIMIT: ['limit', 413, 'the ZIP has more entries than the cap'],
  ERR_ZIP_SIZE_LIMIT: ['limit', 413, 'an entry or the whole ZIP expands beyond the size cap'],
  ERR_ZIP_RATIO_LIMIT: ['limit', 413, 'an entry expands more than the compression-ratio cap allows (a decompression bomb?)'],
  ERR_SBOM_READ_UNKNOWN_FORMAT: ['format', 400, 'pass an SPDX 2.3 JSON or a CycloneDX 1.4-1.6 JSON document'],
  ERR_SBOM_READ_MALFORMED: ['format', 400, 'a field of the SBOM has the wrong type or is missing; compare with the SPDX or CycloneDX schema'],
  ERR_VULN_RECORD_MALFORMED: ['format', 400, 'the OSV record named is not valid OSV JSON (ossf.github.io/osv-schema); fix or remove it and import again'],
  ERR_VULN_RECORD_LIMIT: ['limit', 413, 'the OSV record named is larger than the per-record cap; nothing was imported'],
  ERR_VULN_IMPORT_EMPTY: ['format', 400, 'the directory or ZIP holds no .json OSV records'],
  ERR_VULN_DB_MISSING: ['config', 500, 'import OSV records first: custody vulndb import DIR|ZIP (docs/attestations.md), or name the database: --db PATH (custody scan), --vulndb PATH (custody verify-attestation) or $CUSTODY_VULNDB'],
  ERR_VULN_DB_INVALID: ['config', 500, 'the file is not a custody vulnerability database of this version; import into a new --db path'],
  ERR_VULN_FOUND: ['policy', 422, 'the SBOM names components with known vulnerabilities; upgrade to the fixed versions listed'],
  ERR_REBUILD_DIFFERS: ['verification', 422, 'the two build outputs differ; the lines listed say where (the build is not reproducible)'],
  ERR_REBUILD_KIND_MISMATCH: ['usage', 400, 'compare two things of the same kind: two directories, two tar files, two PSPF packages or two SBOMs'],
  // --- sums (SHA256SUMS in the GNU coreutils format, plain or signed) ---
  ERR_SUMS_LINE_MALFORMED: [
    'format',
    400,
    'the line is not a sha256sum line ("<64 hex>  NAME", "<64 hex> *NAME" or "SHA256 (NAME) = <64 hex>"); see docs/attestations.md "SHA256SUMS"',
  ],
  ERR_SUMS_NUL_BYTE: ['format', 400, 'a checksum file is text: a NUL byte would make a name mean different files to different readers; regenerate the file'],
  ERR_SUMS_NAME_UNREPRESENTABLE: [
    'usage',
    400,
    'the name cannot be written so that sha256sum -c reads it back (empty, "-" meaning standard input, or over the length cap); rename the file or pass it by another path',
  ],
  ERR_SUMS_CHECK_FAILED: [
    'verification',
    422,
    'a listed file is missing, unreadable or has other bytes than the checksum file says (the lines above name it); do not use these files',
  ],
  ERR_SUMS_NO_VALID_LINES: ['format', 400, 'the file holds no sha256sum line at all; pass the SHA256SUMS file itself'],
  ERR_SUMS_PAYLOAD_MISMATCH: [
    'verification',
    422,
    'the signed envelope covers other bytes than this checksum file: the file was changed after signing, or the envelope belongs to another file',
  ],
  // --- SBOM generators (sbom/collect, sbom/spdx, sbom/cyclonedx; `custody sbom`) ---
  ERR_SBOM_INPUT_KIND: ['usage', 400, 'pass a directory, an npm package-lock.json (or npm-shrinkwrap.json) or a PSPF package (.psp)'],
  ERR_SBOM_TREE_LIMIT: ['limit', 413, 'the directory has more files or deeper nesting than the SBOM caps; point custody sbom at a smaller tree'],
  ERR_SBOM_FILE_NAME: ['format', 400, 'a file name in the tree is not valid UTF-8; rename it or leave it out of the tree'],
  ERR_SBOM_LOCKFILE_SCHEMA: ['format', 400, 'the lockfile is not an npm package-lock.json of lockfileVersion 1, 2 or 3; regenerate it with npm install'],
  ERR_SBOM_LOCKFILE_NAME: [
    'format',
    400,
    'a lockfile entry has a hostile or impossible package name or path (empty, absolute, "..", backslash or control characters); do not use this lockfile',
  ],
  ERR_SBOM_OUTPUT_LIMIT: ['limit', 413, 'the SBOM (or its attestation) would be larger than the cap; describe a smaller input'],



  // --- policy gate over verified evidence (policy), promotion (release) ---
  ERR_POLICY_SCHEMA: ['config', 500, 'the policy file does not match the policy schema at the path named; see docs/attestations.md "Policy"'],
  ERR_POLICY_UNKNOWN_KEY: ['config', 500, 'the policy names a key custody does not know (a typo would weaken it); fix or remove it: docs/attestations.md "Policy" lists every key'],
  ERR_POLICY_PREDICATE_MISSING: ['policy', 422, 'no verified attestation of a required predicate type speaks for the artifact; attest it (custody attest …) and pass the attestation'],
  ERR_POLICY_UNTRUSTED_BUILDER: ['policy', 422, 'the provenance names a builder the policy does not trust; build on a trusted builder or add its id to trusted_builders'],
  ERR_POLICY_SUBJECT_NAME: ['policy', 422, 'the attestation names the artifact in a way subject_names does not allow'],
  ERR_POLICY_STALE: ['policy', 422, 'the evidence is older than max_age (or carries no time); rebuild and attest again'],
  ERR_POLICY_SOURCE_REPOSITORY: ['policy', 422, 'the provenance names no source repository that source_repositories allows'],
  ERR_POLICY_SEVERITY: ['policy', 422, 'the artifact has known vulnerabilities above max_severity (or no scan was possible); update the components named'],
  ERR_POLICY_SIGNERS: ['policy', 422, 'the attestation is signed by too few of the keys the policy requires; add the missing signatures'],
  ERR_POLICY_LOG_INCLUSION: ['policy', 422, 'the attestation has no verified transparency-log inclusion; attest with --bundle --log URL'],
  ERR_PROMOTE_LAYOUT: ['format', 400, 'the promotion directory holds artifacts and their *.intoto.jsonl attestations, flat; see docs/attestations.md "Promotion"'],
  // --- signing API (certus) ---
  ERR_AUTH_UNAUTHENTICATED: ['policy', 401, 'send `Authorization: Bearer <token>` with a token from `custody token create` or POST /v1/auth/token'],
  ERR_AUTH_TOKEN_INVALID: ['policy', 401, 'the token is not one this service issued (mistyped, or from another data directory); create one with `custody token create`'],
  ERR_AUTH_TOKEN_EXPIRED: ['policy', 401, 'the token is past its expiry; create a new one (`custody token create`) or answer a new challenge'],
  ERR_AUTH_TOKEN_REVOKED: ['policy', 401, 'the token (or the identity it was issued to) was revoked; ask the operator for a new one'],
  ERR_AUTH_SCOPE: ['policy', 403, 'the token lacks the scope this route needs; create a token with it (custody token create --scope …)'],
  ERR_AUTH_IDENTITY_UNKNOWN: ['policy', 401, 'register the identity first: custody identity add NAME --key K.pub --scope …'],
  ERR_AUTH_IDENTITY_REVOKED: ['policy', 401, 'the identity was revoked; the operator registers a new one under another name'],
  ERR_AUTH_IDENTITY_EXISTS: ['usage', 409, 'identity names are never reused, not even after revocation; choose another name'],
  ERR_AUTH_NONCE_UNKNOWN: ['policy', 401, 'ask for a challenge with POST /v1/auth/challenge and answer it for the same identity'],
  ERR_AUTH_NONCE_REPLAYED: ['policy', 401, 'a nonce answers one request only; ask for a new challenge'],
  ERR_AUTH_NONCE_EXPIRED: ['policy', 401, 'answer a challenge within 60 seconds; ask for a new one'],
  ERR_AUTH_SIGNATURE_INVALID: ['policy', 401, 'sign the exact challenge message (docs/signing-api.md "Challenge-response") with the registered Ed25519 key'],
  ERR_AUTH_CHALLENGE_LIMIT: ['policy', 429, 'too many unanswered challenges for this identity; answer them or wait 60 seconds'],
  ERR_AUTH_NOT_FOUND: ['usage', 404, 'list what exists with `custody token list` or `custody identity list`'],
  ERR_AUTH_STORE: ['io', 503, 'the auth store (DATA/auth.db or the PostgreSQL auth schema) failed; check it and retry'],
  ERR_SIGNAPI_REQUEST: ['format', 400, 'the request does not match the route schema (docs/signing-api.md); digests are "sha256:" + 64 lowercase hex'],
  ERR_SIGNAPI_TOO_LARGE: ['limit', 413, 'the request body is over the cap of the route; sign a digest, not the artifact itself'],
  ERR_SIGNAPI_NOT_FOUND: ['io', 404, 'no such route or transparency entry; list entries with GET /v1/transparency'],
  ERR_SIGNAPI_NOT_READY: ['io', 503, 'a dependency of the signing API (log, auth store or signing key) failed; the answer names it'],
  ERR_SIGNAPI_NOT_LOGGED: ['verification', 422, 'the envelope is not in this daemon\'s transparency log (or not the bytes that were logged)'],
  ERR_SIGNAPI_IDENTITY_MISMATCH: ['policy', 422, 'the statement was signed for another caller than the identity the verifier expects'],
  // --- sigstore bundles, review fixes (issue 10) ---
  ERR_BUNDLE_THRESHOLD_WEAKENED: [
    'usage',
    400,
    'a Sigstore bundle carries one signature, so Sigstore verifiers would accept ONE key of a role whose threshold is above 1; pass --allow-single-signer to export anyway',
  ],
  ERR_BUNDLE_PREDICATE_TYPE: [
    'policy',
    422,
    'verify-blob accepts the signed-blob statement (urn:custody:predicate:signed-blob:v1) unless told otherwise; name the predicate types you accept with --type URI',
  ],
  // --- install, rollback, status (issue 13) ---
  ERR_INSTALL_LOCKED: ['io', 409, 'another custody install, rollback or status holds DIR/install.lock (its pid is in the file); wait for it, or remove the file if that process is gone'],
  ERR_INSTALL_JOURNAL_INVALID: [
    'format',
    422,
    'DIR/install.json (or DIR/current) was changed by something other than custody; restore it from a backup, or move the target aside and install afresh (docs/install.md "Journal")',
  ],
  ERR_INSTALL_CROSS_DEVICE: ['config', 400, 'keep DIR/releases on the same file system as DIR (not a mount point or a symlink to another disk), so the switch is one atomic rename'],
  ERR_INSTALL_CHECK_FAILED: ['policy', 422, 'the health check failed or timed out and the previous release is active again; fix the release (a newer one is installed when published) or run install --retry'],
  ERR_INSTALL_NO_PREVIOUS: ['usage', 409, 'rollback needs an earlier verified release kept in DIR/releases; see custody status --target DIR'],
  ERR_INSTALL_TARGET_MISMATCH: ['usage', 409, 'an install target follows one channel/arch; use another --target directory for another one'],
  ERR_INSTALL_RELEASE_CORRUPT: ['verification', 422, 'a kept release no longer matches its verified manifest (edited or damaged on disk); remove that releases/<sequence> directory and install again'],
  // --- pkcs11: keys held in a token (issue 12, hsm/) ---
  ERR_PKCS11_URI_INVALID: ['format', 400, 'expected an RFC 7512 URI such as pkcs11:token=custody;object=release-1?pin-source=file:pin.txt (docs/keys.md)'],
  ERR_PKCS11_URI_TOO_LARGE: ['limit', 413, 'a pkcs11: URI is at most 4096 characters and 32 attributes'],
  ERR_PKCS11_PIN_IN_URI: ['usage', 400, 'put the PIN in a 0600 file and name it with ?pin-source=file:PATH (or set CUSTODY_PKCS11_PIN); never pin-value'],
  ERR_PKCS11_PIN_REQUIRED: ['config', 500, 'the token needs its user PIN: add ?pin-source=file:PATH to the URI or set CUSTODY_PKCS11_PIN'],
  ERR_PKCS11_PIN_INCORRECT: ['config', 500, 'the token refused the PIN and counts the failure; check the PIN file before trying again (a token locks after a few failures)'],
  ERR_PKCS11_PIN_LOCKED: ['config', 500, 'the user PIN is locked after too many failures; the security officer must unlock it (e.g. softhsm2-util / pkcs11-tool --init-pin with the SO PIN)'],
  ERR_PKCS11_MODULE: ['config', 500, 'name the PKCS#11 module with ?module-path=PATH in the URI or CUSTODY_PKCS11_MODULE (SoftHSM2: libsofthsm2.so)'],
  ERR_PKCS11_TOKEN_NOT_FOUND: ['config', 500, 'no present token matches the URI\'s token/serial/slot attributes; list tokens with pkcs11-tool --list-token-slots'],
  ERR_PKCS11_KEY_NOT_FOUND: ['config', 500, 'no object in the token matches the URI; list them with pkcs11-tool --list-objects --login, or make one with custody keygen --pkcs11'],
  ERR_PKCS11_KEY_AMBIGUOUS: ['config', 500, 'the URI matches several keys; add object= and/or id= so it names exactly one'],
  ERR_PKCS11_KEY_TYPE: ['config', 500, 'custody signs with Ed25519 only: the key must be CKK_EC_EDWARDS on edwards25519 (custody keygen --pkcs11 makes one)'],
  ERR_PKCS11_KEY_EXISTS: ['io', 409, 'the token already holds a key with this label or id; choose another object= name'],
  ERR_PKCS11_TOKEN_FAILED: ['io', 503, 'the token failed or was removed; check that it is present and the module works, then retry'],
  // --- secrets: envelope-encrypted secret store and its keyring (issue 12) ---
  ERR_SECRETS_NAME: ['usage', 400, 'secret names are 1–128 characters a-z 0-9 . _ - starting with a letter or digit'],
  ERR_SECRETS_NOT_FOUND: ['usage', 404, 'list what the store holds with `custody secrets list --store DIR`'],
  ERR_SECRETS_FORMAT: ['format', 400, 'the file is not a custody-secret/v1 or custody-keyring/v1 document (docs/keys.md "Secrets"); restore it from a backup'],
  ERR_SECRETS_KEYRING_AUTH: [
    'config',
    500,
    'the passphrase does not open this keyring, or the keyring file was altered; check CUSTODY_PASSPHRASE or --passphrase-file, else restore the keyring from a backup',
  ],
  ERR_SECRETS_UNKNOWN_KEK: ['config', 500, 'the keyring holds no key-encryption key with this id; use the keyring the store was written with (--keyring)'],
  ERR_SECRETS_DECRYPT: ['verification', 422, 'AES-GCM refused the secret: its file or its wrapped data key was altered, or it was renamed; restore it from a backup'],
  ERR_SECRETS_LOCKED: ['io', 409, 'another custody process is changing this store; wait for it to finish (a lock left by a process that died is taken over)'],
  // --- certus: gatekeeper, chain of custody, upload store (issue 11) ---
  ERR_CERTUS_ARTIFACT_DUPLICATE: ['format', 400, 'each artifact (or file) name appears once in a scan'],
  ERR_CERTUS_TIMESTAMP: ['format', 400, 'inner signature timestamps are RFC 3339, e.g. 2026-01-02T03:04:05Z'],
  ERR_CERTUS_SCANNER_UNKNOWN: ['policy', 403, 'register the scanner first: custody identity add NAME --key K.pub --scope scan'],
  ERR_CERTUS_SCANNER_REVOKED: ['policy', 403, 'the scanner identity was revoked; its signatures are no longer accepted'],
  ERR_CERTUS_INNER_SIGNATURE_INVALID: ['verification', 422, 'the scanner signs the exact scan message of docs/signing-api.md ("Inner signatures") over these artifacts with its registered key'],
  ERR_CERTUS_ALGORITHM: ['policy', 422, 'inner signatures are Ed25519 ("algorithm": "Ed25519")'],
  ERR_CERTUS_POLICY: ['config', 500, 'fix the upload policy file (docs/signing-api.md "Upload policy"); the message names the path'],
  ERR_CERTUS_TIER_UNKNOWN: ['policy', 403, 'ask for a tier the upload policy defines'],
  ERR_CERTUS_POLICY_DENIED: ['policy', 403, 'the upload policy of this tier does not permit this scan (scanner, artifact type, count, size or destination)'],
  ERR_CERTUS_SIGNATURE_STALE: ['policy', 403, 'the inner signature is older than the tier allows (or dated in the future); sign the scan again'],
  ERR_CERTUS_PERMISSION_INVALID: ['verification', 403, 'an upload permission is the "permission" envelope POST /v1/verify-and-permit-upload answered, signed by this service'],
  ERR_CERTUS_PERMISSION_UNKNOWN: ['policy', 403, 'the permission was not issued by this service (or its database); ask POST /v1/verify-and-permit-upload for one'],
  ERR_CERTUS_PERMISSION_EXPIRED: ['policy', 403, 'the upload permission expired; ask for a new one'],
  ERR_CERTUS_PERMISSION_USED: ['policy', 403, 'an upload permission is used once; ask for a new one'],
  ERR_CERTUS_PERMISSION_MISMATCH: ['policy', 403, 'upload exactly the scan and artifacts the permission names'],
  ERR_CERTUS_DIGEST_MISMATCH: ['verification', 422, 'the bytes (or the locations) do not have the digest that was signed and permitted'],
  ERR_CERTUS_CHAIN_BROKEN: ['verification', 422, 'the outer signature does not cover the inner signature and files presented'],
  ERR_CERTUS_STORE: ['io', 503, 'the artifact store failed; check its directory (DATA/artifacts) and retry with a new permission'],
  ERR_CERTUS_SCAN_NOT_FOUND: ['io', 404, 'no record of this scan id; sign it (POST /v1/sign-artifact) or ask for a permission first'],
  ERR_CERTUS_UNKNOWN_ROLE: ['io', 404, 'this service publishes root.json; other roles are not served here'],
  // --- OIDC bearer tokens and keyless certificates (issue 11, auth/oidc, auth/keyless-ca) ---
  ERR_OIDC_TOKEN_MALFORMED: ['policy', 401, 'send an OIDC ID or access token as a compact JWS (three base64url parts), at most 16 KiB'],
  ERR_OIDC_ISSUER_UNKNOWN: ['policy', 401, 'the token\'s "iss" is not an issuer this daemon trusts; the operator adds it with custody serve --oidc-issuer URL'],
  ERR_OIDC_ALGORITHM: ['policy', 401, 'the token\'s "alg" is not allowed: RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA only (never "none" or HS*)'],
  ERR_OIDC_KEY_UNKNOWN: ['policy', 401, 'no key of the issuer\'s JWKS has the token\'s "kid" (checked again after a refresh); get a fresh token from the issuer'],
  ERR_OIDC_SIGNATURE_INVALID: ['policy', 401, 'the token\'s signature does not verify under the issuer\'s key; get a fresh token from the issuer'],
  ERR_OIDC_AUDIENCE: ['policy', 401, 'the token is for another audience; ask the issuer for a token whose "aud" is the one custody serve --oidc-audience names'],
  ERR_OIDC_EXPIRED: ['policy', 401, 'the token is past its "exp" (60 seconds of clock skew allowed); get a fresh token from the issuer'],
  ERR_OIDC_NOT_YET_VALID: ['policy', 401, 'the token\'s "nbf" or "iat" is in the future (beyond 60 seconds of clock skew); check the clocks of the issuer and this host'],
  ERR_OIDC_CLAIMS: ['policy', 401, 'the token lacks a usable identity: "email" with "email_verified": true, or "sub", as the issuer is configured (--oidc-identity-claim)'],
  ERR_OIDC_PROVIDER: ['io', 503, 'the issuer\'s discovery document or JWKS could not be fetched or is invalid; check the issuer URL and that it is reachable'],
  ERR_KEYLESS_CERT_MALFORMED: ['format', 400, 'pass the certificate /v1/sign answered: one PEM "CERTIFICATE" block, at most 16 KiB'],
  ERR_KEYLESS_CERT_UNTRUSTED: ['verification', 422, 'the certificate was not issued by this daemon\'s keyless CA (GET /v1/keys/keyless-ca.pem)'],
  ERR_KEYLESS_CERT_EXPIRED: ['policy', 422, 'the certificate was not valid when the signature was logged; keyless certificates live 10 minutes from issuance'],
  ERR_KEYLESS_IDENTITY_MISMATCH: ['policy', 422, 'the certificate names another identity than the one required (certificate_identity or certificate_identity_regexp)'],
  ERR_KEYLESS_ISSUER_MISMATCH: ['policy', 422, 'the certificate names another OIDC issuer than the one required (certificate_oidc_issuer or certificate_oidc_issuer_regexp)'],
  ERR_KEYLESS_REGEXP: ['usage', 400, 'regular expressions here run in linear time, as RE2 and cosign do: at most 256 characters (2,048 with counted repetitions written out, each count at most 1000), without backreferences, lookaround or \\p{…}'],
  ERR_KEYLESS_CA: ['config', 500, 'the keyless CA files (DATA/keys/keyless-ca.pem, DATA/trust/keyless-ca.pem) are unreadable or do not belong together; restore them or move both away to make a new CA'],
  // --- tuf (the TUF repository under /tuf/ and its client, custody fetch --tuf; issue 13) ---
  ERR_TUF_SCHEMA: ['format', 400, 'the TUF metadata is not a timestamp, snapshot or targets document as TUF 1.0 defines it; see docs/tuf.md'],
  ERR_TUF_THRESHOLD_UNMET: ['verification', 422, 'the metadata needs more signatures from the keys the trusted root gives its role'],
  ERR_TUF_EXPIRED: ['policy', 422, 'the metadata is past its expires date: the repository stopped re-signing it, or something replays an old copy'],
  ERR_TUF_ROLLBACK: ['policy', 422, 'the metadata version is lower than one already trusted (a rollback); the state directory remembers the newest seen'],
  ERR_TUF_MIX_AND_MATCH: ['verification', 422, 'the metadata is not the version (or the bytes) that the timestamp or snapshot names'],
  ERR_TUF_TARGET_MISMATCH: ['verification', 422, 'the downloaded target does not have the length and SHA-256 the signed targets metadata gives'],
  ERR_TUF_TARGET_NOT_FOUND: ['io', 404, 'the repository lists no target for that channel/arch; check the names against GET /'],
  // --- mirrors and provider discovery (issue 14) ---
  ERR_DISCOVERY_ANNOUNCE_URL: ['format', 400, 'announce the base URL clients fetch from, http(s)://host:port with no path (e.g. --announce-url http://10.0.0.5:8080)'],
  ERR_DISCOVERY_MULTIADDR: ['format', 400, 'pass a multiaddr as custody serve --dht prints it, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3Koo…'],
  ERR_DISCOVERY_START: ['io', 503, 'the libp2p node could not start; check --p2p-listen (address in use?) and the network'],
  ERR_DISCOVERY_NO_PROVIDER: ['io', 404, 'no provider of that channel/arch answered in time: check --bootstrap (or --mdns on the LAN), the channel and arch, or raise --timeout'],
  ERR_DISCOVERY_PEER_KEY: ['format', 400, 'the libp2p key file (DATA/p2p/peer.key) is damaged; remove it to make a new peer identity, or pass --ephemeral'],
  ERR_DISCOVERY_MDNS: ['format', 400, 'a malformed mDNS packet was ignored; nothing to do unless a device on the link keeps sending them'],
  ERR_MIRROR_UPSTREAM_INDEX: ['format', 502, "the upstream's GET / is not a provider's info answer with a \"releases\" list; check the --mirror URL"],
  // --- key custody: KEKs held in a PKCS#11 token (issue 12, hsm/aes-key, secrets/token-kek) ---
  ERR_PKCS11_KEK_TYPE: ['config', 500, 'a token KEK is a sensitive, non-extractable AES-256 key (CKK_AES, 32 bytes) allowed to encrypt and decrypt, in a token with CKM_AES_GCM; make one with custody secrets rotate-kek --to URI'],
  // --- cli review s10 ---
  ERR_KEYLESS_NO_CERTIFICATE: ['policy', 422, 'the signature is key-signed (no certificate comes with it), so certificate identity and issuer cannot be checked; drop the certificate_* constraints (--certificate-* options), check the signer with identity (the key-signed signer), or verify a keyless signature'],
  ERR_SECRETS_VALUE_EMPTY: ['usage', 400, 'the value was empty, which a closed or mistyped pipe gives; pipe the value in or use --from-file F, or pass --allow-empty to store an empty secret'],
  ERR_SECRETS_STDIN_TERMINAL: ['usage', 400, "custody does not prompt for a secret: pipe it in (printf '%s' \"$VALUE\" | custody secrets put …) or pass --from-file F"],
  ERR_AUTH_DATA_MISSING: ['config', 500, "pass --data DIR, the daemon's data directory (custody serve --data DIR makes it); the CLI never creates one, so a mistyped path cannot start a store no daemon reads"],
  ERR_AUTH_STORE_MISSING: ['config', 500, "pass --data DIR, the data directory of the daemon whose tokens and identities you mean (its DATA/auth.db), or --postgres-url-file when its state is in PostgreSQL"],
  ERR_MANIFEST_PROOF_STALE: ['usage', 409, 'OUT.tlog-proof belongs to an earlier OUT and would be read as the new one\'s proof: remove it (or move it away), or pass --log to replace it with a proof of this manifest'],
  ERR_TUF_STATE_MISMATCH: ['policy', 422, 'the --state directory was made for another repository URL or bootstrap fingerprint (DIR/bootstrap.json): pass the URL and --root-fingerprint it was made with, or a new --state directory'],
} as const satisfies Record<string, CodeSpec>;

/**
 * RETIRED_CODES were codes once and are never reused (a client may still test for them): ERR_PROVIDER_NAME was
 * split into ERR_PROVIDER_CHANNEL_NAME, ERR_PROVIDER_VERSION_INVALID, ERR_PROVIDER_INCOMING_ESCAPE and
 * ERR_IO_NOT_REGULAR_FILE. test/errors.test.ts checks that none of them is in ERROR_CODES.
 */
export const RETIRED_CODES: readonly string[] = ['ERR_PROVIDER_NAME'];

/** ErrorCode is the union of every stable code. */
export type ErrorCode = keyof typeof ERROR_CODES;

export type CodesOf<K extends ErrorKind> = {
  [C in ErrorCode]: (typeof ERROR_CODES)[C][0] extends K ? C : never;
}[ErrorCode];

/** ExitCode is a CLI exit status for a refusal: 1 refused, 2 usage or config, 3 I/O, 70 internal error (a bug). */
export type ExitCode = 1 | 2 | 3 | 70;

/** EXIT_CODES maps an error kind to the CLI exit status. */
export const EXIT_CODES: Readonly<Record<ErrorKind, ExitCode>> = {
  verification: 1,
  policy: 1,
  format: 1,
  limit: 1,
  config: 2,
  usage: 2,
  io: 3,
  internal: 70,
};

export interface TrustErrorOptions extends ErrorOptions {
  /** hint overrides the code's default hint. */
  hint?: string;
  /** details are structured, non-secret facts (counts, key ids, offsets) for `--json` and logs. */
  details?: Record<string, unknown>;
}

/** TrustError is the base of every coded error. */
export class TrustError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly hint: string;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options: TrustErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const spec = ERROR_CODES[code];
    this.code = code;
    this.kind = spec[0];
    this.hint = options.hint ?? spec[2];
    this.details = options.details;
  }

  override get name(): string {
    return 'TrustError';
  }

  /** httpStatus is the status the daemon answers with for this code. */
  get httpStatus(): number {
    return ERROR_CODES[this.code][1];
  }

  /** exitCode is the CLI exit status for this error. */
  get exitCode(): ExitCode {
    return EXIT_CODES[this.kind];
  }

  toJSON(): { ok: false; code: ErrorCode; message: string; hint: string; details?: Record<string, unknown> } {
    return {
      ok: false,
      code: this.code,
      message: this.message,
      hint: this.hint,
      ...(this.details ? { details: { ...this.details } } : {}),
    };
  }
}

/** VerificationError: the evidence is invalid. */
export class VerificationError extends TrustError {
  constructor(code: CodesOf<'verification'>, message: string, options?: TrustErrorOptions) {
    super(code, message, options);
  }
  override get name(): string {
    return 'VerificationError';
  }
}

/** PolicyError: the evidence is valid but not accepted. */
export class PolicyError extends TrustError {
  constructor(code: CodesOf<'policy'>, message: string, options?: TrustErrorOptions) {
    super(code, message, options);
  }
  override get name(): string {
    return 'PolicyError';
  }
}

/** FormatError: malformed input. */
export class FormatError extends TrustError {
  constructor(code: CodesOf<'format'>, message: string, options?: TrustErrorOptions) {
    super(code, message, options);
  }
  override get name(): string {
    return 'FormatError';
  }
}

/** LimitError: input exceeds a documented cap. */
export class LimitError extends TrustError {
  constructor(code: CodesOf<'limit'>, message: string, options?: TrustErrorOptions) {
    super(code, message, options);
  }
  override get name(): string {
    return 'LimitError';
  }
}

/** ConfigError: an operator or configuration problem. */
export class ConfigError extends TrustError {
  constructor(code: CodesOf<'config'>, message: string, options?: TrustErrorOptions) {
    super(code, message, options);
  }
  override get name(): string {
    return 'ConfigError';
  }
}

/** UsageError: the command line is wrong. */
export class UsageError extends TrustError {
  constructor(code: CodesOf<'usage'>, message: string, options?: TrustErrorOptions) {
    super(code, message, options);
  }
  override get name(): string {
    return 'UsageError';
  }
}

/** IoError: a file or network operation failed. */
export class IoError extends TrustError {
  constructor(code: CodesOf<'io'>, message: string, options?: TrustErrorOptions) {
    super(code, message, options);
  }
  override get name(): string {
    return 'IoError';
  }
}

/** AnyTrustError is the discriminated union of the concrete classes. */
export type AnyTrustError =
  | VerificationError
  | PolicyError
  | FormatError
  | LimitError
  | ConfigError
  | UsageError
  | IoError;

/** isTrustError narrows an unknown thrown value. */
export function isTrustError(e: unknown): e is TrustError {
  return e instanceof TrustError;
}

/**
 * toIoError converts a Node fs error into a coded IoError naming the path (never file contents).
 * Non-fs errors are returned unchanged.
 */
export function toIoError(e: unknown, path: string, op: 'read' | 'write'): unknown {
  if (e instanceof TrustError) return e;
  const errno = (e as { code?: unknown } | null)?.code;
  if (errno === 'ENOENT') return new IoError('ERR_IO_NOT_FOUND', `no such file: ${path}`, { cause: e });
  if (errno === 'EEXIST') return new IoError('ERR_IO_EXISTS', `already exists: ${path}`, { cause: e });
  if (typeof errno === 'string') {
    return new IoError(op === 'read' ? 'ERR_IO_READ_FAILED' : 'ERR_IO_WRITE_FAILED', `cannot ${op} ${path}: ${errno}`, {
      cause: e,
    });
  }
  return e;
}

/** isErrorCode tells whether a string (e.g. a code relayed by a server) is a current code of ERROR_CODES. */
export function isErrorCode(s: string): s is ErrorCode {
  return Object.hasOwn(ERROR_CODES, s);
}

/**
 * errorFromCode builds the class a code belongs to (its kind), so a code relayed from a server keeps
 * `instanceof PolicyError` and friends; messages and hints are the caller's. A relayed ERR_INTERNAL becomes
 * ERR_HTTP_INTERNAL.
 */
export function errorFromCode(code: ErrorCode, message: string, options?: TrustErrorOptions): AnyTrustError {
  switch (ERROR_CODES[code][0]) {
    case 'verification':
      return new VerificationError(code as CodesOf<'verification'>, message, options);
    case 'policy':
      return new PolicyError(code as CodesOf<'policy'>, message, options);
    case 'format':
      return new FormatError(code as CodesOf<'format'>, message, options);
    case 'limit':
      return new LimitError(code as CodesOf<'limit'>, message, options);
    case 'config':
      return new ConfigError(code as CodesOf<'config'>, message, options);
    case 'usage':
      return new UsageError(code as CodesOf<'usage'>, message, options);
    case 'io':
      return new IoError(code as CodesOf<'io'>, message, options);
    case 'internal':
      // ERR_INTERNAL names a bug of the process that reports it; relayed from a server it is that server's failure,
      // an I/O condition for us (exit 3), never our own exit 70.
      return new IoError('ERR_HTTP_INTERNAL', message, options);
  }
}
