/**
 * fuzz/targets/attest — DSSE envelopes (src/attest/dsse.ts), in-toto statements (src/attest/statement.ts) and
 * .intoto.jsonl files: parsed, verified under trusted keys, and formatted back.
 */
import { keysFromPublicKeys, formatEnvelope, formatJsonl, parseEnvelope, parseJsonl, signEnvelope, verifyEnvelope } from '../../src/attest/dsse.ts';
import { encodeStatement, INTOTO_PAYLOAD_TYPE, parseStatement, statementToJson } from '../../src/attest/statement.ts';
import { verifyAttestation } from '../../src/attest/verify.ts';
import { key, NOW } from '../../test/support/fixtures.ts';
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
