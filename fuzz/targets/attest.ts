/**
 * fuzz/targets/attest — DSSE envelopes (src/attest/dsse.ts), in-toto statements (src/attest/statement.ts) and
 * .intoto.jsonl files: parsed, verified under trusted keys, and formatted back.
 */
import { generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { keysFromPublicKeys, formatEnvelope, formatJsonl, parseEnvelope, parseJsonl, signEnvelope, verifyEnvelope } from '../../src/attest/dsse.ts';
import { encodeStatement, INTOTO_PAYLOAD_TYPE, parseStatement, statementToJson } from '../../src/attest/statement.ts';
import { verifyAttestation } from '../../src/attest/verify.ts';
import { resourceDescriptorToJson, parseResourceDescriptor } from '../../src/attest/resource-descriptor.ts';
import { BUNDLE_V03_MEDIA_TYPE, formatBundle, parseBundle } from '../../src/attest/sigstore-bundle.ts';
import { dsseBody, tlogEntryFromLog } from '../../src/attest/sigstore-tlog.ts';
import { blobStatementPayload, dsseBundle, withTlogEntry } from '../../src/attest/sigstore-trust.ts';
import { verifyBundle, verifyParsedBundle, type VerifyBundleOptions } from '../../src/attest/sigstore-verify.ts';
import { parseProvenance, provenancePredicate } from '../../src/attest/slsa.ts';
import { formatSums, parseSums, type SumsEntry } from '../../src/attest/sums.ts';
import { P256PublicKey, sha256 } from '../../src/crypto/index.ts';
import { isJsonObject, parseJson } from '../../src/encoding/json.ts';
import { isErrorCode, isTrustError } from '../../src/errors.ts';
import { formatCheckpoint } from '../../src/note/checkpoint.ts';
import { newNoteSigner, newNoteVerifier, signNote } from '../../src/note/note.ts';
import { hashLeaf } from '../../src/tlog/merkle.ts';
import { key, NOW } from '../../test/support/fixtures.ts';
import { corpusFiles } from './corpus.ts';
import { jsonFieldMutations, lineMutations } from '../structured.ts';
import { enc, expectSame, sameModel, type FuzzTarget } from '../target.ts';

const STATEMENT = {
  _type: 'https://in-toto.io/Statement/v1',
  subject: [
    { name: 'app.tar.gz', digest: { sha256: 'a'.repeat(64), sha512: 'b'.repeat(128) } },
    { name: 'docs.zip', digest: { sha256: 'c'.repeat(64) } },
  ],
  predicateType: 'https://slsa.dev/provenance/v1',
  predicate: { buildDefinition: { buildType: 'https://example.com/build/v1', externalParameters: {} }, runDetails: { builder: { id: 'https://example.com/b' } } },
};

function fixture(): { keys: ReturnType<typeof keysFromPublicKeys>; envs: string[]; payload: Uint8Array } {
  const ks = [key('d1'), key('d2')];
  const payload = enc.encode(JSON.stringify(STATEMENT));
  const envs = [formatEnvelope(signEnvelope(INTOTO_PAYLOAD_TYPE, payload, ks)), formatEnvelope(signEnvelope(INTOTO_PAYLOAD_TYPE, payload, ks.slice(0, 1)))];
  return { keys: keysFromPublicKeys(ks.map((k) => k.publicKey), 2), envs, payload };
}

export const dsse: FuzzTarget = {
  name: 'dsse',
  parses: 'DSSE envelopes (parse, verify, in-toto payload)',
  make() {
    const f = fixture();
    return Promise.resolve({
      seeds: f.envs.map((e) => enc.encode(e)),
      structured: jsonFieldMutations(f.envs.map((e) => JSON.parse(e) as never)),
      run(input: Uint8Array) {
        const env = parseEnvelope(input);
        expectSame(sameModel(parseEnvelope(formatEnvelope(env)), env), 'formatEnvelope(parseEnvelope(x)) parses differently');
        verifyEnvelope(env, { keys: f.keys, payloadType: INTOTO_PAYLOAD_TYPE, now: NOW });
        return verifyAttestation(env, f.keys, NOW);
      },
    });
  },
};

export const intotoStatement: FuzzTarget = {
  name: 'intoto-statement',
  parses: 'in-toto Statement v1 payloads',
  make() {
    const f = fixture();
    const v01 = { ...STATEMENT, _type: 'https://in-toto.io/Statement/v0.1' };
    return Promise.resolve({
      seeds: [f.payload, enc.encode(JSON.stringify(v01))],
      structured: jsonFieldMutations([STATEMENT as never, v01 as never]),
      run(input: Uint8Array) {
        const s = parseStatement(input);
        const again = parseStatement(encodeStatement(s));
        expectSame(sameModel(statementToJson(again), statementToJson(s)), 'encodeStatement(parseStatement(x)) parses differently');
        return s;
      },
    });
  },
};

export const intotoJsonl: FuzzTarget = {
  name: 'intoto-jsonl',
  parses: '.intoto.jsonl attestation files',
  make() {
    const f = fixture();
    const text = f.envs.join('\n') + '\n';
    return Promise.resolve({
      seeds: [enc.encode(text), enc.encode(f.envs[0]! + '\r\n\n')],
      structured: lineMutations([text]),
      run(input: Uint8Array) {
        const envs = parseJsonl(input);
        expectSame(sameModel(parseJsonl(enc.encode(formatJsonl(envs))), envs), 'formatJsonl(parseJsonl(x)) parses differently');
        return envs;
      },
    });
  },
};

// --- SHA256SUMS, Sigstore bundles, SLSA provenance (issue 10's parsers) ---

const SUMS_TEXTS = [
  `${'a'.repeat(64)}  app.tar.gz\n${'B'.repeat(64)} *bin/app.exe\n# comment\n\n`,
  `SHA256 (app.tar.gz) = ${'c'.repeat(64)}\n\\SHA256 (new\\nline) = ${'d'.repeat(64)}\r\n`,
  `\\${'e'.repeat(64)}  back\\\\slash\n${'f'.repeat(64)}  sp ace\nnot a line\n`,
  `SHA256 (x) = ${'0'.repeat(64)}\n${'1'.repeat(64)}  y\n`,
];

/**
 * sums: parseSums in lenient and strict mode. Oracles: strict accepts exactly when lenient finds no malformed line
 * (and then reads the same entries); the accepted entries, written back by formatSums, read as the same entries.
 */
export const sums: FuzzTarget = {
  name: 'sums',
  parses: 'SHA256SUMS files (lenient, strict; formatSums round trip)',
  async make(ctx) {
    const corpus = await corpusFiles(ctx.repoRoot, (p) => /sums/i.test(p) && !p.endsWith('.ts'), 20, 64 * 1024);
    return {
      seeds: [...SUMS_TEXTS.map((t) => enc.encode(t)), ...corpus],
      structured: lineMutations(SUMS_TEXTS),
      run(input: Uint8Array) {
        const lenient = parseSums(input);
        let strict: ReturnType<typeof parseSums> | undefined;
        try {
          strict = parseSums(input, { strict: true });
        } catch (e) {
          expectSame(isErrorCode((e as { code?: string }).code ?? '') && (e as { code: string }).code === 'ERR_SUMS_LINE_MALFORMED', `strict mode threw ${String(e)}`);
        }
        expectSame((strict === undefined) === lenient.malformed.length > 0, 'strict and lenient disagree on malformed lines');
        if (strict) expectSame(sameModel(strict, lenient), 'strict and lenient read different entries');
        const plain = (es: readonly SumsEntry[]): unknown => es.map((e) => ({ name: Buffer.from(e.name).toString('hex'), sha256: e.sha256, mode: e.mode }));
        let text: Uint8Array;
        try {
          text = formatSums(lenient.entries);
        } catch (e) {
          // A name sha256sum itself could not list (e.g. "-"): refused by the formatter with its code, not a mismatch.
          if ((e as { code?: string }).code === 'ERR_SUMS_NAME_UNREPRESENTABLE') return lenient;
          throw e;
        }
        const back = parseSums(text, { strict: true });
        expectSame(sameModel(plain(back.entries), plain(lenient.entries)), 'formatSums(parseSums(x)) reads different entries');
        return lenient;
      },
    };
  },
};

function bundleFixture(): { good: string[]; opts: VerifyBundleOptions; artifact: Uint8Array } {
  const signer = key('fuzz-bundle-signer');
  const logKey = key('fuzz-bundle-log');
  const noteSigner = newNoteSigner('example.test/log', logKey);
  const verifier = newNoteVerifier('example.test/log', logKey.publicKey);
  const artifact = enc.encode('the fuzz artifact\n');
  const digest = Buffer.from(sha256(artifact)).toString('hex');
  const b = dsseBundle(blobStatementPayload('a.bin', digest), signer);
  if (b.content.type !== 'dsseEnvelope') throw new Error('expected dsse');
  const body = dsseBody(b.content.envelope, signer.publicKey);
  const checkpoint = signNote(formatCheckpoint({ origin: 'example.test/log', size: 1, rootHash: hashLeaf(body) }), [noteSigner]);
  const logged = withTlogEntry(b, tlogEntryFromLog(body, 'dsse', { index: 0, checkpoint, proof: [] }, verifier));
  // A cosign-style message-signature bundle: ECDSA P-256 over the artifact bytes, DER-encoded (as the tests build it).
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ms = {
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    verificationMaterial: { publicKey: { hint: 'cosign' }, tlogEntries: [] },
    messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: Buffer.from(sha256(artifact)).toString('base64') }, signature: nodeSign('sha256', artifact, ec.privateKey).toString('base64') },
  };
  const p256 = P256PublicKey.fromPem(ec.publicKey.export({ type: 'spki', format: 'pem' }).toString());
  return {
    good: [formatBundle(logged), formatBundle(b), JSON.stringify(ms)],
    opts: { artifactSha256: digest, artifact, keys: keysFromPublicKeys([signer.publicKey]), p256Keys: [p256], logKeys: [verifier], now: NOW },
    artifact,
  };
}

/**
 * sigstore-bundle: parseBundle, the formatBundle round trip, then verification of the (mutated) bundle against the
 * trusted key and log: it must verify or refuse with a code, never throw raw.
 */
export const sigstoreBundle: FuzzTarget = {
  name: 'sigstore-bundle',
  parses: 'Sigstore bundles v0.3 (parse, round trip, verifyParsedBundle, verifyBundle with and without ignoreTlog)',
  make() {
    const f = bundleFixture();
    return Promise.resolve({
      seeds: f.good.map((g) => enc.encode(g)),
      structured: jsonFieldMutations(f.good.map((g) => JSON.parse(g) as never)),
      run(input: Uint8Array) {
        const b = parseBundle(input);
        expectSame(sameModel(parseBundle(formatBundle(b)), b), 'formatBundle(parseBundle(x)) parses differently');
        try {
          verifyParsedBundle(b, { ...f.opts, ignoreTlog: true });
        } catch (e) {
          if (!isTrustError(e)) throw e;
        }
        return verifyBundle(input, f.opts);
      },
    });
  },
};

const PROVENANCE = {
  buildDefinition: {
    buildType: 'https://custody.dev/build-types/make/v1',
    externalParameters: { source: 'git+https://git.example.org/app@refs/tags/v1.2.3', target: 'release' },
    internalParameters: { runner: 'ubi9-2' },
    resolvedDependencies: [
      { uri: 'git+https://git.example.org/app@refs/tags/v1.2.3', digest: { gitCommit: 'c'.repeat(40) } },
      { uri: 'pkg:npm/left-pad@1.3.0', digest: { sha512: 'e'.repeat(128) }, name: 'left-pad', downloadLocation: 'https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz', mediaType: 'application/gzip', annotations: { direct: true } },
      { name: 'build.env', content: Buffer.from('CC=gcc\n').toString('base64') },
    ],
  },
  runDetails: {
    builder: { id: 'https://ci.example.org/runners/ubi9', version: { custody: '0.1.0' }, builderDependencies: [{ uri: 'oci://registry.example.org/ubi9@sha256:' + 'a'.repeat(64) }] },
    metadata: { invocationId: 'run-42', startedOn: '2026-11-21T10:00:00Z', finishedOn: '2026-11-21T10:04:30.250Z' },
    byproducts: [{ name: 'build.log', digest: { sha256: 'b'.repeat(64) } }],
  },
};

/**
 * slsa: SLSA Provenance v1 predicates (parseProvenance, resource descriptors inside), the provenancePredicate round
 * trip; byte 0 odd also reads the document as one bare resource descriptor.
 */
export const slsa: FuzzTarget = {
  name: 'slsa',
  parses: 'SLSA Provenance v1 predicates and resource descriptors (parse, provenancePredicate round trip)',
  make() {
    const rd = PROVENANCE.buildDefinition.resolvedDependencies[1]!;
    const docs = [PROVENANCE, { buildDefinition: { buildType: 'https://t.example/v1', externalParameters: {} }, runDetails: { builder: { id: 'https://b.example' } } }];
    const seed = (mode: number, v: unknown): Uint8Array => Buffer.concat([Uint8Array.of(mode), enc.encode(JSON.stringify(v))]);
    return Promise.resolve({
      seeds: [...docs.map((d) => seed(0, d)), seed(1, rd), seed(1, PROVENANCE.buildDefinition.resolvedDependencies[2])],
      structured: jsonFieldMutations([...docs, rd] as never[]).map((b) => Buffer.concat([Uint8Array.of(b[1] === 0x22 && b[2] === 0x75 ? 1 : 0), b])),
      run(input: Uint8Array) {
        const doc = parseJson(input.subarray(1));
        if ((input[0] ?? 0) & 1) {
          const d = parseResourceDescriptor(doc, 'descriptor', 'ERR_SLSA_SCHEMA');
          expectSame(sameModel(parseResourceDescriptor(resourceDescriptorToJson(d), 'descriptor', 'ERR_SLSA_SCHEMA'), d), 'resource descriptor round trip differs');
          return d;
        }
        if (!isJsonObject(doc)) return doc;
        const p = parseProvenance(doc);
        expectSame(sameModel(parseProvenance(provenancePredicate(p)), p), 'provenancePredicate(parseProvenance(x)) parses differently');
        return p;
      },
    });
  },
};
