/**
 * errors — the one error model of Custody (STYLE.md C3).
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
 * Programming bugs stay plain `Error`.
 */

/** ErrorKind selects the class, the CLI exit code and the default HTTP status family. */
export type ErrorKind = 'verification' | 'policy' | 'format' | 'limit' | 'config' | 'usage' | 'io';

type CodeSpec = readonly [kind: ErrorKind, httpStatus: number, hint: string];

/**
 * ERROR_CODES is the single table of codes: kind, HTTP status and default hint. Add new codes to the area block
 * they belong to, and add the same row to docs/errors.md.
 */
export const ERROR_CODES = {
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
  ERR_MANIFEST_BODY_CHANGED: [
    'usage',
    409,
    'the manifest changed since it was signed; pass --resign to drop the old signatures and sign anew',
  ],
  ERR_MANIFEST_NO_SUPPORTED_HASH: ['verification', 422, 'the manifest offers no hash algorithm Custody supports'],

  // --- artifacts ---
  ERR_ARTIFACT_NOT_IN_MANIFEST: ['verification', 422, 'the file name matches no artifact the manifest signs'],
  ERR_ARTIFACT_SIZE_MISMATCH: ['verification', 422, 'the file is not the one the manifest signs: DO NOT USE IT'],
  ERR_ARTIFACT_HASH_MISMATCH: ['verification', 422, 'the file is not the one the manifest signs: DO NOT USE IT'],

  // --- trust root (TUF root.json) ---
  ERR_TRUST_SCHEMA: ['format', 400, 'the trust root is not a TUF root.json; see docs/trust.md'],
  ERR_TRUST_THRESHOLD_UNMET: ['verification', 422, 'the root needs more signatures from the keys of its root role'],
  ERR_TRUST_EXPIRED: ['policy', 422, 'the trust root is past its expires date; sign a new root version'],
  ERR_TRUST_VERSION: ['policy', 422, 'a new root must have version N+1 of the root it replaces'],
  ERR_TRUST_ROLLBACK: ['policy', 422, 'the trust root version is lower than one already trusted'],
  ERR_TRUST_UNKNOWN_KEY: ['usage', 400, 'the key id is not in this trust root; run `custody trust show`'],
  ERR_TRUST_ROLE: ['format', 400, 'the trust root lacks a required role or the role is malformed'],
} as const satisfies Record<string, CodeSpec>;

/** ErrorCode is the union of every stable code. */
export type ErrorCode = keyof typeof ERROR_CODES;

type CodesOf<K extends ErrorKind> = {
  [C in ErrorCode]: (typeof ERROR_CODES)[C][0] extends K ? C : never;
}[ErrorCode];

/** EXIT_CODES maps an error kind to the CLI exit status: 1 refused, 2 usage or config, 3 I/O. */
export const EXIT_CODES: Readonly<Record<ErrorKind, 1 | 2 | 3>> = {
  verification: 1,
  policy: 1,
  format: 1,
  limit: 1,
  config: 2,
  usage: 2,
  io: 3,
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
  get exitCode(): 1 | 2 | 3 {
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
