/**
 * auth/keyless-ca — the daemon's own certificate authority for keyless signing (issue 11), in the manner of
 * Sigstore's Fulcio: an OIDC-authenticated caller of POST /v1/sign gets a short-lived X.509 certificate (RFC 5280)
 * that binds a fresh Ed25519 key to its identity and issuer, and the envelope is signed with that key.
 *
 * Certificates (made by @peculiar/x509 through auth/x509-runtime, never hand-written DER):
 * ```
 * CA    subject "CN=custody keyless CA, O=custody", self-signed, Ed25519, valid 10 years;
 *       basicConstraints cA (critical, pathLen 0), keyUsage keyCertSign+cRLSign (critical), subjectKeyIdentifier
 * leaf  empty subject, Ed25519 key of the signature, valid KEYLESS_CERT_TTL_MS (10 minutes) from issuance;
 *       keyUsage digitalSignature (critical), extKeyUsage codeSigning, subjectAltName (critical): rfc822Name for an
 *       email identity, URI for a URI subject (Fulcio's choices); the OIDC issuer as Fulcio writes it:
 *       1.3.6.1.4.1.57264.1.8 (DER UTF8String) and 1.3.6.1.4.1.57264.1.1 (legacy: the raw UTF-8 bytes);
 *       authorityKeyIdentifier, subjectKeyIdentifier; serial: 16 random bytes (positive)
 * ```
 * Why Ed25519 and not P-256: Custody's signatures, keys and DSSE verification are Ed25519 throughout, Node's
 * WebCrypto and @peculiar/x509 both handle Ed25519 certificates, and `openssl verify` accepts them (the tests run
 * it). Fulcio itself issues certificates for Ed25519 keys.
 *
 * Files, made on first start like the development keys (server/provider/identity):
 * ```
 * DATA/keys/keyless-ca.pem   the CA's private key, PKCS#8 PEM, 0600 (and keyless-ca.pub)
 * DATA/trust/keyless-ca.pem  the CA certificate, PEM, 0644 — served at GET /v1/keys/keyless-ca.pem
 * ```
 *
 * Verification ({@link verifyKeylessCertificate}) parses a caller's PEM (bounded: one block, 16 KiB), checks that
 * our CA's key signed it and that it names our CA as issuer, and that it was valid at a given time — the time its
 * signature was logged, not now: a 10-minute certificate is expected to have expired by the time anyone verifies.
 *
 * Trust boundary: certificates given to /v1/verify are attacker-controlled; the CA files are operator input.
 */
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { ED25519_WEBCRYPTO, PrivateKey, PublicKey, publicKeyFromSpki, randomBytes, toWebCryptoPrivateKey, toWebCryptoPublicKey, type WebCryptoKey } from '../crypto/index.ts';
import { ConfigError, FormatError, PolicyError, UsageError, VerificationError, isTrustError } from '../errors.ts';
import { pathExists, readFileBounded, writeFileAtomic } from '../io/files.ts';
import { loadPrivateKey, writeKeyPair } from '../keys/key-file.ts';
import { asn1Lib, x509Lib } from './x509-runtime.ts';
import { KEYLESS_CA_CERT_FILE, KEYLESS_CA_KEY_FILE } from './oidc-shape.ts';

export { KEYLESS_CA_CERT_FILE, KEYLESS_CA_KEY_FILE };

/** KEYLESS_CERT_TTL_MS: a keyless certificate is valid 10 minutes from issuance (issue 11; Fulcio's lifetime). */
export const KEYLESS_CERT_TTL_MS = 10 * 60_000;
/** KEYLESS_CA_VALIDITY_MS: the CA certificate made on first start is valid 10 years. */
export const KEYLESS_CA_VALIDITY_MS = 10 * 365 * 86_400_000;
/** CERT_PEM_MAX_BYTES caps a certificate given to /v1/verify. */
export const CERT_PEM_MAX_BYTES = 16 * 1024;
/** FULCIO_ISSUER_V2_OID: the OIDC issuer, a DER UTF8String (Fulcio "Issuer (V2)"). */
export const FULCIO_ISSUER_V2_OID = '1.3.6.1.4.1.57264.1.8';
/** FULCIO_ISSUER_V1_OID: the OIDC issuer as raw UTF-8 bytes (Fulcio "Issuer", deprecated, still written). */
export const FULCIO_ISSUER_V1_OID = '1.3.6.1.4.1.57264.1.1';
export const KEYLESS_CA_SUBJECT = 'CN=custody keyless CA, O=custody';
const CODE_SIGNING_EKU = '1.3.6.1.5.5.7.3.3';

/** KeylessIdentityKind: how the identity is written in the subjectAltName. */
export type KeylessIdentityKind = 'email' | 'uri';

/** KeylessCertificate is a parsed, chain-checked certificate. */
export interface KeylessCertificate {
  pem: string;
  der: Uint8Array;
  identity: string;
  identityKind: KeylessIdentityKind;
  /** issuer is the OIDC issuer the certificate names (the V2 extension, else V1). */
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  publicKey: PublicKey;
  serial: string;
}

/** IssueOptions describe one certificate. */
export interface IssueOptions {
  publicKey: PublicKey;
  identity: string;
  identityKind: KeylessIdentityKind;
  issuer: string;
  now: Date;
}

/** KeylessCa issues keyless certificates with the CA of a data directory. */
export class KeylessCa {
  readonly certificatePem: string;
  readonly certificateDer: Uint8Array;
  readonly #key: WebCryptoKey;
  readonly #caPublic: PublicKey;
  #verifier: KeylessVerifier | undefined;
  /** caAki is the authorityKeyIdentifier of every leaf (the same for all: computed once). */
  #caAki: ReturnType<ReturnType<typeof x509Lib>['AuthorityKeyIdentifierExtension']['create']> | undefined;

  private constructor(pem: string, der: Uint8Array, key: WebCryptoKey, caPublic: PublicKey) {
    this.certificatePem = pem;
    this.certificateDer = der;
    this.#key = key;
    this.#caPublic = caPublic;
  }

  /** publicKey is the CA's Ed25519 key. */
  get publicKey(): PublicKey {
    return this.#caPublic;
  }

  /** verifier checks certificates against this CA (one per CA, with its cache). */
  get verifier(): KeylessVerifier {
    this.#verifier ??= new KeylessVerifier(this.certificatePem);
    return this.#verifier;
  }

  /**
   * loadOrCreate opens the CA of a data directory, making key and certificate on first use. One of the two files
   * without the other, or a certificate of another key, is ERR_KEYLESS_CA (nothing is overwritten).
   */
  static async loadOrCreate(dataDir: string, now: Date): Promise<{ ca: KeylessCa; created: boolean }> {
    const x509 = x509Lib();
    const keyPath = join(dataDir, KEYLESS_CA_KEY_FILE);
    const certPath = join(dataDir, KEYLESS_CA_CERT_FILE);
    const [haveKey, haveCert] = [await pathExists(keyPath), await pathExists(certPath)];
    if (haveKey !== haveCert) {
      throw new ConfigError('ERR_KEYLESS_CA', `${haveKey ? certPath : keyPath} is missing while ${haveKey ? keyPath : certPath} exists`);
    }
    let created = false;
    if (!haveKey) {
      const key = PrivateKey.generate();
      const signingKey = await toWebCryptoPrivateKey(key);
      const publicKey = await toWebCryptoPublicKey(key.publicKey);
      const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000);
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: serialHex(),
        subject: KEYLESS_CA_SUBJECT,
        issuer: KEYLESS_CA_SUBJECT,
        notBefore,
        notAfter: new Date(notBefore.getTime() + KEYLESS_CA_VALIDITY_MS),
        publicKey,
        signingKey,
        signingAlgorithm: ED25519_WEBCRYPTO,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          await x509.SubjectKeyIdentifierExtension.create(publicKey),
        ],
      });
      // The key first (0600), then the certificate: a crash between the two leaves a key without a certificate,
      // which the next start reports instead of silently replacing.
      await writeKeyPair(keyPath, key);
      await writeFileAtomic(certPath, cert.toString('pem') + '\n', { mode: 0o644, overwrite: false, dirMode: 0o700 });
      created = true;
    }
    let key: PrivateKey;
    let cert: InstanceType<typeof x509.X509Certificate>;
    try {
      key = await loadPrivateKey(keyPath);
      cert = new x509.X509Certificate((await readFileBounded(certPath, { maxBytes: CERT_PEM_MAX_BYTES, what: 'keyless CA certificate' })).toString('utf8'));
    } catch (e) {
      if (isTrustError(e) && e.kind !== 'format') throw e;
      throw new ConfigError('ERR_KEYLESS_CA', `cannot read the keyless CA in ${dataDir}: ${(e as Error).message}`, { cause: e });
    }
    const certKey = publicKeyFromSpki(new Uint8Array(cert.publicKey.rawData));
    if (!certKey.equals(key.publicKey)) throw new ConfigError('ERR_KEYLESS_CA', `${certPath} is not the certificate of ${keyPath}`);
    const der = new Uint8Array(cert.rawData);
    return { ca: new KeylessCa(cert.toString('pem') + '\n', der, await toWebCryptoPrivateKey(key), key.publicKey), created };
  }

  /** issue makes a certificate for one signature (module comment, "leaf"). */
  async issue(o: IssueOptions): Promise<KeylessCertificate> {
    const x509 = x509Lib();
    const asn1 = asn1Lib();
    const publicKey = await toWebCryptoPublicKey(o.publicKey);
    // Whole seconds: X.509 times have no fractions, and a notBefore after the logged time would refuse our own entry.
    const notBefore = new Date(Math.floor(o.now.getTime() / 1000) * 1000);
    const notAfter = new Date(notBefore.getTime() + KEYLESS_CERT_TTL_MS);
    this.#caAki ??= toWebCryptoPublicKey(this.#caPublic).then((k) => x509.AuthorityKeyIdentifierExtension.create(k));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serialHex(),
      subject: '',
      issuer: KEYLESS_CA_SUBJECT,
      notBefore,
      notAfter,
      publicKey,
      signingKey: this.#key,
      signingAlgorithm: ED25519_WEBCRYPTO,
      extensions: [
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([CODE_SIGNING_EKU]),
        // RFC 5280 §4.2.1.6: with an empty subject the subjectAltName is critical.
        new x509.SubjectAlternativeNameExtension([{ type: o.identityKind === 'email' ? 'email' : 'url', value: o.identity }], true),
        new x509.Extension(FULCIO_ISSUER_V2_OID, false, asn1.AsnConvert.serialize(new asn1.DirectoryString({ utf8String: o.issuer }))),
        new x509.Extension(FULCIO_ISSUER_V1_OID, false, new TextEncoder().encode(o.issuer)),
        await this.#caAki,
        await x509.SubjectKeyIdentifierExtension.create(publicKey),
      ],
    });
    return {
      pem: cert.toString('pem') + '\n',
      der: new Uint8Array(cert.rawData),
      identity: o.identity,
      identityKind: o.identityKind,
      issuer: o.issuer,
      notBefore,
      notAfter,
      publicKey: o.publicKey,
      serial: cert.serialNumber,
    };
  }
}

/** serialHex is a positive 128-bit serial number (RFC 5280 §4.1.2.2: at most 20 octets, unpredictable). */
function serialHex(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return Buffer.from(b).toString('hex');
}

const PEM_CERT_RE = /^\s*-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END CERTIFICATE-----\s*$/;

/**
 * parseCertificatePem reads exactly one PEM certificate (at most {@link CERT_PEM_MAX_BYTES}) and its contents:
 * the SAN identity, the OIDC issuer, validity and key. Throws ERR_KEYLESS_CERT_MALFORMED; the fuzz target
 * `keyless-cert` drives it. Nothing is trusted yet: see {@link verifyKeylessCertificate}.
 */
export function parseCertificatePem(pem: string): { cert: KeylessCertificate; raw: InstanceType<ReturnType<typeof x509Lib>['X509Certificate']> } {
  const x509 = x509Lib();
  const bad = (why: string, cause?: unknown): never => {
    throw new FormatError('ERR_KEYLESS_CERT_MALFORMED', `the certificate ${why}`, cause === undefined ? {} : { cause });
  };
  if (Buffer.byteLength(pem) > CERT_PEM_MAX_BYTES) bad(`is over the cap of ${CERT_PEM_MAX_BYTES} bytes`);
  const m = PEM_CERT_RE.exec(pem);
  if (!m) bad('is not one PEM "CERTIFICATE" block');
  let raw: InstanceType<typeof x509.X509Certificate>;
  try {
    raw = new x509.X509Certificate(Buffer.from(m![1]!.replace(/\s+/g, ''), 'base64'));
  } catch (e) {
    return bad('does not parse as X.509', e);
  }
  let identity: string | undefined;
  let identityKind: KeylessIdentityKind | undefined;
  let issuer: string | undefined;
  let publicKey: PublicKey | undefined;
  try {
    const san = raw.getExtension(x509.SubjectAlternativeNameExtension);
    const names = san?.names.items ?? [];
    if (names.length !== 1) bad(`has ${names.length} subjectAltNames, expected 1`);
    const n = names[0]!;
    if (n.type === 'email') [identity, identityKind] = [n.value, 'email'];
    else if (n.type === 'url') [identity, identityKind] = [n.value, 'uri'];
    else bad(`names a ${n.type} identity, expected an email address or a URI`);
    const v2 = raw.getExtension(FULCIO_ISSUER_V2_OID);
    const v1 = raw.getExtension(FULCIO_ISSUER_V1_OID);
    if (v2 !== null) {
      const { AsnConvert, DirectoryString } = asn1Lib();
      issuer = AsnConvert.parse(v2.value, DirectoryString).utf8String;
    }
    else if (v1 !== null) issuer = new TextDecoder('utf-8', { fatal: true }).decode(v1.value);
    if (issuer === undefined || issuer === '') bad('names no OIDC issuer (1.3.6.1.4.1.57264.1.8 or .1.1)');
    try {
      publicKey = publicKeyFromSpki(new Uint8Array(raw.publicKey.rawData));
    } catch (e) {
      bad('does not hold an Ed25519 key', e);
    }
  } catch (e) {
    if (isTrustError(e)) throw e;
    bad('has malformed extensions', e);
  }
  return {
    raw,
    cert: {
      pem,
      der: new Uint8Array(raw.rawData),
      identity: identity!,
      identityKind: identityKind!,
      issuer: issuer!,
      notBefore: raw.notBefore,
      notAfter: raw.notAfter,
      publicKey: publicKey!,
      serial: raw.serialNumber,
    },
  };
}

/** VERIFIED_CACHE_ENTRIES bounds the certificates a {@link KeylessVerifier} remembers as chain-checked. */
export const VERIFIED_CACHE_ENTRIES = 1024;

/**
 * KeylessVerifier checks callers' certificates against one CA, parsed once. Parsing and the CA signature check cost
 * about a millisecond each (@peculiar/x509 over WebCrypto); a certificate verified once is remembered, by its exact
 * PEM text, in a bounded cache: the chain check depends on nothing but those bytes and the CA, so the answer cannot
 * change. The validity check (at the logged time) runs every time.
 */
export class KeylessVerifier {
  readonly caPem: string;
  readonly #ca: InstanceType<ReturnType<typeof x509Lib>['X509Certificate']>;
  #caKey: Promise<WebCryptoKey> | undefined;
  readonly #verified = new Map<string, KeylessCertificate>();

  constructor(caPem: string) {
    this.caPem = caPem;
    this.#ca = new (x509Lib().X509Certificate)(caPem);
  }

  /**
   * verify checks a caller's certificate: issued by this CA (its key signed it, and it names the CA as issuer: else
   * ERR_KEYLESS_CERT_UNTRUSTED), for code signing, and valid at `at` when given (else ERR_KEYLESS_CERT_EXPIRED).
   * Returns the certificate's contents.
   */
  async verify(pem: string, at?: Date): Promise<KeylessCertificate> {
    let cert = this.#verified.get(pem);
    if (cert === undefined) {
      cert = await this.#chain(pem);
      if (this.#verified.size >= VERIFIED_CACHE_ENTRIES) this.#verified.delete(this.#verified.keys().next().value!);
      this.#verified.set(pem, cert);
    }
    if (at !== undefined && (at.getTime() < cert.notBefore.getTime() || at.getTime() > cert.notAfter.getTime())) {
      throw new PolicyError('ERR_KEYLESS_CERT_EXPIRED', `the certificate was valid ${cert.notBefore.toISOString()} to ${cert.notAfter.toISOString()}, not at ${at.toISOString()} when the signature was logged`);
    }
    return cert;
  }

  async #chain(pem: string): Promise<KeylessCertificate> {
    const x509 = x509Lib();
    const { cert, raw } = parseCertificatePem(pem);
    this.#caKey ??= this.#ca.publicKey.export();
    let signed: boolean;
    try {
      signed = raw.issuer === this.#ca.subject && (await raw.verify({ publicKey: await this.#caKey, signatureOnly: true }));
    } catch {
      signed = false;
    }
    if (!signed) throw new VerificationError('ERR_KEYLESS_CERT_UNTRUSTED', `the certificate (serial ${cert.serial.slice(0, 40)}) was not issued by this daemon's keyless CA`);
    const eku = raw.getExtension(x509.ExtendedKeyUsageExtension);
    if (eku === null || !eku.usages.map(String).includes(CODE_SIGNING_EKU)) {
      throw new VerificationError('ERR_KEYLESS_CERT_UNTRUSTED', 'the certificate is not for code signing');
    }
    return cert;
  }
}

/** verifyKeylessCertificate is {@link KeylessVerifier.verify} with a CA given as PEM (parsed for this one call). */
export function verifyKeylessCertificate(pem: string, caPem: string, at?: Date): Promise<KeylessCertificate> {
  return new KeylessVerifier(caPem).verify(pem, at);
}

/** IdentityConstraints are what a verifier requires of a certificate (cosign's --certificate-identity[-regexp], --certificate-oidc-issuer[-regexp]). */
export interface IdentityConstraints {
  identity?: string | undefined;
  identityRegexp?: string | undefined;
  issuer?: string | undefined;
  issuerRegexp?: string | undefined;
}

/** REGEXP_MAX_CHARS caps a caller's regular expression. */
export const REGEXP_MAX_CHARS = 256;

/** linearEngine: V8's linear-time regular expression engine is switched on in this process (undefined: not tried). */
let linearEngine: boolean | undefined;

/** REGEXP_EXPANDED_MAX_CHARS caps a pattern after its counted repetitions are written out (and so its automaton). */
export const REGEXP_EXPANDED_MAX_CHARS = 2048;

/**
 * compileSafeRegexp compiles a caller's pattern for {@link checkIdentity} to run in time linear in the subject, as
 * cosign's do (Go's regexp, RE2). A backtracking engine is not enough even without nested quantifiers: a run of
 * overlapping repetitions such as `[a-z]+.[a-z]+.[a-z]+…` costs n^k steps (the fuzz campaign found one of eight that
 * took over a second on an 81-character identity; issue 16). So the pattern is compiled by V8's own linear-time
 * engine (the `l` flag, behind `--enable-experimental-regexp-engine`, switched on here with v8.setFlagsFromString
 * before the first pattern), which runs what it accepts as an automaton, without backtracking.
 *
 * That engine refuses counted repetitions over 16 (`[0-9a-f]{40}`, common in workflow identities), so those are
 * written out first ({@link expandCountedRepetitions}); it has no `u` flag, so patterns match UTF-16 code units and
 * the escapes that need it (`\p{…}`, `\u{…}`) are refused by name, as are backreferences and lookaround (RE2 has
 * none of them). Patterns are at most 256 characters, and at most REGEXP_EXPANDED_MAX_CHARS written out, which
 * bounds the automaton and so the work per subject character. ERR_KEYLESS_REGEXP for the caller's mistakes; a
 * runtime without the engine is ERR_CONFIG_INVALID (the daemon's, not the caller's).
 */
export function compileSafeRegexp(pattern: string, what: string): RegExp {
  const refuse = (why: string): never => {
    throw new UsageError('ERR_KEYLESS_REGEXP', `${what}: ${why}`);
  };
  if (pattern.length > REGEXP_MAX_CHARS) refuse(`at most ${REGEXP_MAX_CHARS} characters`);
  if (/\\[1-9kK]/.test(pattern)) refuse('backreferences are not accepted');
  if (/\(\?(?:[=!]|<[=!])/.test(pattern)) refuse('lookaround is not accepted');
  if (/\\[pP]\{|\\u\{/.test(pattern)) refuse('\\p{…} and \\u{…} escapes are not accepted (patterns match UTF-16 code units)');
  if (/\\0[0-9]/.test(pattern)) refuse('octal escapes are not accepted (write \\xHH)');
  // The pattern as written must be a regular expression (compiled by the ordinary engine, never run): written out, an
  // invalid atom under {0} would vanish, and a quantifier after a count would find something to repeat.
  try {
    new RegExp(pattern);
  } catch (e) {
    refuse(`not a regular expression (${(e as Error).message.slice(0, 100)})`);
  }
  const expanded = expandCountedRepetitions(pattern, refuse);
  if (linearEngine === undefined) {
    setFlagsFromString('--enable-experimental-regexp-engine');
    try {
      // eslint-disable-next-line no-invalid-regexp -- `l` is V8's linear-time engine flag, switched on just above
      linearEngine = new RegExp('', 'l').flags === 'l';
    } catch {
      linearEngine = false;
    }
  }
  if (!linearEngine) {
    throw new ConfigError('ERR_CONFIG_INVALID', `this Node.js (${process.version}) has no linear-time regular expression engine; ${what} cannot be evaluated safely`, {
      hint: 'run the daemon on Node.js 20 or 22, whose V8 has it (--enable-experimental-regexp-engine)',
    });
  }
  try {
    // eslint-disable-next-line no-invalid-regexp -- `l` is V8's linear-time engine flag, switched on above
    return new RegExp(expanded, 'l');
  } catch (e) {
    const message = (e as Error).message;
    if (message.includes('linear time')) return refuse('not a pattern that runs in linear time (a repetition of a repeated group over 16 times is not accepted)');
    return refuse(`not a regular expression (${message.slice(0, 100)})`);
  }
}

/** COUNTED: a counted repetition `{n}`, `{n,}` or `{n,m}`, lazy or not, at the start of a string. */
const COUNTED = /^\{(\d{1,4})(?:(,)(\d{0,4}))?\}(\??)/;

/**
 * expandCountedRepetitions writes out each counted repetition of a single atom (a character, an escape, a class or
 * `.`): `x{n}` as n copies of `(?:x)`, `x{n,m}` as n copies then m−n of `(?:x)?`, `x{n,}` as n copies then `(?:x)*`;
 * for a test of whether a string matches, these are the same language. Each copy is a group of its own, so that no
 * copy reads on into its neighbour (`\x4{2}` is `\x` then `44`, not `\x44`). A counted repetition of a group is left as it is (the
 * linear engine takes it up to 16). A `{` that is no repetition stays a literal (JavaScript's rule without `u`).
 * Over REGEXP_EXPANDED_MAX_CHARS, or a count over 1000 (RE2's limit), is refused.
 */
export function expandCountedRepetitions(p: string, refuse: (why: string) => never): string {
  let out = '';
  /** atom is the text of the atom `out` ends with, when it ends with one a count may repeat. */
  let atom: string | undefined;
  let i = 0;
  while (i < p.length) {
    const ch = p[i]!;
    if (ch === '{') {
      const m = COUNTED.exec(p.slice(i));
      if (m !== null && atom !== undefined) {
        const n = Number(m[1]);
        const max = m[2] === undefined ? n : m[3] === '' ? Infinity : Number(m[3]);
        if (n > 1000 || (max !== Infinity && max > 1000)) refuse('a counted repetition is at most {1000}');
        if (max < n) refuse('a counted repetition {n,m} needs n ≤ m');
        const lazy = m[4]!;
        // Each copy in a group of its own: written side by side, `\x4` and `4` would read as `\x44`.
        const copy = `(?:${atom})`;
        const tail = max === Infinity ? `${copy}*${lazy}` : `${copy}?${lazy}`.repeat(max - n);
        out = out.slice(0, out.length - atom.length) + copy.repeat(n) + tail;
        if (out.length > REGEXP_EXPANDED_MAX_CHARS) refuse(`at most ${REGEXP_EXPANDED_MAX_CHARS} characters with its counted repetitions written out`);
        atom = undefined;
        i += m[0].length;
        // As written, a quantifier right after this one has nothing to repeat; written out, it would repeat the
        // last copy. Refused, as the engine refuses the pattern as given (found by the fuzz target's differential).
        if (/^[*+?{]/.test(p.slice(i)) && (p[i] !== '{' || COUNTED.test(p.slice(i)))) refuse('nothing to repeat: a quantifier follows a quantifier');
        continue;
      }
      if (m !== null) {
        // A count after a group, an assertion or another quantifier: left to the engine as written.
        out += m[0];
        atom = undefined;
        i += m[0].length;
        continue;
      }
      out += ch;
      atom = ch;
      i++;
      continue;
    }
    if (ch === '\\') {
      const next = p[i + 1] ?? '';
      let len = 2;
      if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(p.slice(i + 2, i + 4))) len = 4;
      else if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(p.slice(i + 2, i + 6))) len = 6;
      else if (next === 'c' && /^[A-Za-z]$/.test(p[i + 2] ?? '')) len = 3;
      const text = p.slice(i, i + len);
      out += text;
      atom = next === 'b' || next === 'B' || next === '' ? undefined : text;
      i += len;
      continue;
    }
    if (ch === '[') {
      // A class ends at the first `]` not escaped; right after `[` or `[^` a `]` ends an empty class (no `u` flag).
      let j = i + 1;
      if (p[j] === '^') j++;
      while (j < p.length && p[j] !== ']') j += p[j] === '\\' ? 2 : 1;
      if (j >= p.length) {
        // Unterminated: the engine refuses it as written.
        out += p.slice(i);
        break;
      }
      const text = p.slice(i, j + 1);
      out += text;
      atom = text;
      i = j + 1;
      continue;
    }
    if (ch === '(') {
      // A group's opening, its `?:` or `?<name>` with it: nothing a count may repeat.
      const named = /^\(\?<[A-Za-z_$][\w$]*>/.exec(p.slice(i));
      const open = named !== null ? named[0] : p.startsWith('(?:', i) ? '(?:' : '(';
      out += open;
      atom = undefined;
      i += open.length;
      continue;
    }
    out += ch;
    atom = ')|^$*+?'.includes(ch) ? undefined : ch;
    i++;
  }
  return out;
}

/**
 * checkIdentity applies a verifier's constraints to a verified certificate: exact strings compare exactly, regexps
 * match anywhere in the value as cosign's (Go regexp.MatchString) do — anchor them with ^…$ to match the whole.
 * ERR_KEYLESS_IDENTITY_MISMATCH / ERR_KEYLESS_ISSUER_MISMATCH.
 */
export function checkIdentity(cert: Pick<KeylessCertificate, 'identity' | 'issuer'>, c: IdentityConstraints): void {
  const idRe = c.identityRegexp === undefined ? undefined : compileSafeRegexp(c.identityRegexp, 'certificate_identity_regexp');
  const issRe = c.issuerRegexp === undefined ? undefined : compileSafeRegexp(c.issuerRegexp, 'certificate_oidc_issuer_regexp');
  const show = (s: string): string => JSON.stringify(s.slice(0, 200));
  if ((c.identity !== undefined && cert.identity !== c.identity) || (idRe !== undefined && !idRe.test(cert.identity))) {
    throw new PolicyError('ERR_KEYLESS_IDENTITY_MISMATCH', `the certificate's identity is ${show(cert.identity)}, expected ${c.identity !== undefined ? show(c.identity) : `a match of /${(c.identityRegexp ?? '').slice(0, 200)}/`}`);
  }
  if ((c.issuer !== undefined && cert.issuer !== c.issuer) || (issRe !== undefined && !issRe.test(cert.issuer))) {
    throw new PolicyError('ERR_KEYLESS_ISSUER_MISMATCH', `the certificate's OIDC issuer is ${show(cert.issuer)}, expected ${c.issuer !== undefined ? show(c.issuer) : `a match of /${(c.issuerRegexp ?? '').slice(0, 200)}/`}`);
  }
}
