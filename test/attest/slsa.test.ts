/**
 * SLSA Provenance v1 (slsa.dev/spec/v1.0/provenance) and the in-toto ResourceDescriptor: field names asserted
 * literally as the specs write them, round trip through a signed statement, parsing rules (unknown fields ignored,
 * null as absent) and every malformed shape refused with its code.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  encodeStatement,
  statementFromJson,
  INTOTO_PAYLOAD_TYPE,
  keysFromPublicKeys,
  parseProvenance,
  provenanceFromStatement,
  provenancePredicate,
  provenanceStatement,
  signEnvelope,
  SLSA_PROVENANCE_V1,
  verifyAttestation,
  type Provenance,
} from '../../src/attest/index.ts';
import type { JsonObject } from '../../src/encoding/json.ts';
import { assertCode } from '../support/assert.ts';
import { key, NOW } from '../support/fixtures.ts';

const signer = key('slsa-builder');

const FULL: Provenance = {
  buildDefinition: {
    buildType: 'https://custody.dev/build-types/make/v1',
    externalParameters: { source: 'git+https://git.example.org/app@refs/tags/v1.2.3', target: 'release' },
    internalParameters: { runner: 'ubi9-2' },
    resolvedDependencies: [
      { uri: 'git+https://git.example.org/app@refs/tags/v1.2.3', digest: { gitCommit: 'c'.repeat(40) } },
      {
        uri: 'pkg:npm/left-pad@1.3.0',
        digest: { sha512: 'e'.repeat(128) },
        name: 'left-pad',
        downloadLocation: 'https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz',
        mediaType: 'application/gzip',
        annotations: { direct: true },
      },
      { name: 'build.env', content: Buffer.from('CC=gcc\n') },
    ],
  },
  runDetails: {
    builder: { id: 'https://ci.example.org/runners/ubi9', version: { custody: '0.1.0' }, builderDependencies: [{ uri: 'oci://registry.example.org/ubi9@sha256:' + 'a'.repeat(64) }] },
    metadata: { invocationId: 'run-42', startedOn: new Date('2026-11-21T10:00:00Z'), finishedOn: new Date('2026-11-21T10:04:30.250Z') },
    byproducts: [{ name: 'build.log', digest: { sha256: 'b'.repeat(64) } }],
  },
};

test('SLSA v1 predicate: field names and order exactly as the spec writes them', () => {
  const json = provenancePredicate(FULL);
  assert.equal(SLSA_PROVENANCE_V1, 'https://slsa.dev/provenance/v1');
  assert.deepEqual(Object.keys(json), ['buildDefinition', 'runDetails']);
  const bd = json['buildDefinition'] as JsonObject;
  assert.deepEqual(Object.keys(bd), ['buildType', 'externalParameters', 'internalParameters', 'resolvedDependencies']);
  const rd = json['runDetails'] as JsonObject;
  assert.deepEqual(Object.keys(rd), ['builder', 'metadata', 'byproducts']);
  assert.deepEqual(Object.keys(rd['builder'] as JsonObject), ['id', 'version', 'builderDependencies']);
  assert.deepEqual(rd['metadata'], { invocationId: 'run-42', startedOn: '2026-11-21T10:00:00Z', finishedOn: '2026-11-21T10:04:30.250Z' });
  const deps = bd['resolvedDependencies'] as JsonObject[];
  assert.deepEqual(Object.keys(deps[1]!), ['uri', 'digest', 'name', 'downloadLocation', 'mediaType', 'annotations']);
  assert.deepEqual(deps[2], { name: 'build.env', content: 'Q0M9Z2NjCg==' });
  // The minimal predicate: only the three required fields.
  const min = provenancePredicate({ buildDefinition: { buildType: 'https://t.example/v1', externalParameters: {} }, runDetails: { builder: { id: 'https://b.example' } } });
  assert.equal(JSON.stringify(min), '{"buildDefinition":{"buildType":"https://t.example/v1","externalParameters":{}},"runDetails":{"builder":{"id":"https://b.example"}}}');
});

test('SLSA v1 round trip: built, signed in a statement, verified, parsed back to the same model', () => {
  const stmt = provenanceStatement([{ name: 'app.tar', digest: { sha256: 'f'.repeat(64) } }], FULL);
  assert.equal(stmt.predicateType, 'https://slsa.dev/provenance/v1');
  const env = signEnvelope(INTOTO_PAYLOAD_TYPE, encodeStatement(stmt), [signer]);
  const v = verifyAttestation(env, keysFromPublicKeys([signer.publicKey]), NOW);
  const back = provenanceFromStatement(v.statement);
  assert.deepEqual(back, { ...FULL, buildDefinition: { ...FULL.buildDefinition, resolvedDependencies: FULL.buildDefinition.resolvedDependencies!.map((d) => (d.content ? { ...d, content: new Uint8Array(d.content) } : d)) } });
  assert.equal(back.runDetails.metadata?.finishedOn?.toISOString(), '2026-11-21T10:04:30.250Z');
  assertCode(() => provenanceFromStatement({ ...v.statement, predicateType: 'https://slsa.dev/provenance/v0.2' }), 'ERR_SLSA_PREDICATE_TYPE', 'FormatError');
});

test('SLSA parsing rules: unknown fields are ignored, null reads as absent, offsets are accepted', () => {
  const p = parseProvenance({
    buildDefinition: { buildType: 'https://t.example/v1', externalParameters: { a: 1 }, internalParameters: null, futureField: [1] },
    runDetails: { builder: { id: 'https://b.example', version: null }, metadata: { startedOn: '2026-11-21T12:00:00+02:00', finishedOn: '2026-11-21T10:00:01Z' }, extra: 'x' },
    futureTopLevel: true,
  });
  assert.equal(p.buildDefinition.internalParameters, undefined);
  assert.equal(p.runDetails.builder.version, undefined);
  assert.equal(p.runDetails.metadata?.startedOn?.toISOString(), '2026-11-21T10:00:00.000Z');
  assert.equal('futureField' in p.buildDefinition, false);
});

test('SLSA malformed predicates: each refused with its code', () => {
  const good = provenancePredicate(FULL);
  const bd = good['buildDefinition'] as JsonObject;
  const rd = good['runDetails'] as JsonObject;
  const builder = rd['builder'] as JsonObject;
  const withBd = (patch: JsonObject): JsonObject => ({ ...good, buildDefinition: { ...bd, ...patch } });
  const withRd = (patch: JsonObject): JsonObject => ({ ...good, runDetails: { ...rd, ...patch } });
  const withBuilder = (patch: JsonObject): JsonObject => withRd({ builder: { ...builder, ...patch } });
  const dep = (d: JsonObject): JsonObject => withBd({ resolvedDependencies: [d] });
  const cases: Array<[string, JsonObject, string]> = [
    ['no buildDefinition', { runDetails: rd }, 'ERR_SLSA_SCHEMA'],
    ['no runDetails', { buildDefinition: bd }, 'ERR_SLSA_SCHEMA'],
    ['buildDefinition array', { ...good, buildDefinition: [] }, 'ERR_SLSA_SCHEMA'],
    ['no buildType', withBd({ buildType: null }), 'ERR_SLSA_SCHEMA'],
    ['empty buildType', withBd({ buildType: '' }), 'ERR_SLSA_SCHEMA'],
    ['buildType not a URI', withBd({ buildType: 'make' }), 'ERR_SLSA_SCHEMA'],
    ['buildType with space', withBd({ buildType: 'https://a b' }), 'ERR_SLSA_SCHEMA'],
    ['buildType number', withBd({ buildType: 1 }), 'ERR_SLSA_SCHEMA'],
    ['no externalParameters', withBd({ externalParameters: null }), 'ERR_SLSA_SCHEMA'],
    ['externalParameters string', withBd({ externalParameters: '{}' }), 'ERR_SLSA_SCHEMA'],
    ['internalParameters array', withBd({ internalParameters: [] }), 'ERR_SLSA_SCHEMA'],
    ['resolvedDependencies object', withBd({ resolvedDependencies: {} }), 'ERR_SLSA_SCHEMA'],
    ['dependency not object', dep('x' as unknown as JsonObject), 'ERR_SLSA_SCHEMA'],
    ['dependency identifies nothing', dep({ name: 'x' }), 'ERR_SLSA_SCHEMA'],
    ['dependency empty digest only', dep({ digest: {} }), 'ERR_SLSA_SCHEMA'],
    ['dependency bad sha256', dep({ digest: { sha256: 'ABC' } }), 'ERR_SLSA_SCHEMA'],
    ['dependency digest number', dep({ digest: { sha256: 1 } }), 'ERR_SLSA_SCHEMA'],
    ['dependency uri not URI', dep({ uri: 'left-pad' }), 'ERR_SLSA_SCHEMA'],
    ['dependency content not base64', dep({ content: '***' }), 'ERR_FORMAT_BASE64'],
    ['dependency annotations array', dep({ uri: 'a:b', annotations: [] }), 'ERR_SLSA_SCHEMA'],
    ['dependency too many digests', dep({ digest: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`x${i}`, 'y'])) }), 'ERR_LIMIT_COUNT'],
    ['dependency long uri', dep({ uri: 'a:' + 'x'.repeat(9000) }), 'ERR_LIMIT_SIZE'],
    ['no builder', withRd({ builder: null }), 'ERR_SLSA_SCHEMA'],
    ['no builder id', withBuilder({ id: null }), 'ERR_SLSA_SCHEMA'],
    ['builder id not URI', withBuilder({ id: 'my laptop' }), 'ERR_SLSA_SCHEMA'],
    ['builder version number', withBuilder({ version: { custody: 1 } }), 'ERR_SLSA_SCHEMA'],
    ['builder version array', withBuilder({ version: ['1'] }), 'ERR_SLSA_SCHEMA'],
    ['metadata string', withRd({ metadata: 'x' }), 'ERR_SLSA_SCHEMA'],
    ['invocationId number', withRd({ metadata: { invocationId: 7 } }), 'ERR_SLSA_SCHEMA'],
    ['startedOn not RFC 3339', withRd({ metadata: { startedOn: '2026-11-21 10:00' } }), 'ERR_SLSA_SCHEMA'],
    ['finishedOn impossible date', withRd({ metadata: { finishedOn: '2026-02-30T00:00:00Z' } }), 'ERR_SLSA_SCHEMA'],
    ['startedOn after finishedOn', withRd({ metadata: { startedOn: '2026-11-21T10:00:01Z', finishedOn: '2026-11-21T10:00:00Z' } }), 'ERR_SLSA_TIME_ORDER'],
    ['byproducts string', withRd({ byproducts: 'x' }), 'ERR_SLSA_SCHEMA'],
  ];
  for (const [, predicate, code] of cases) {
    assertCode(() => parseProvenance(predicate), code as 'ERR_SLSA_SCHEMA');
  }
  // The builder checks what it writes: an inverted run is refused before anything is signed.
  const inverted: Provenance = { ...FULL, runDetails: { ...FULL.runDetails, metadata: { startedOn: new Date('2026-11-21T10:00:01Z'), finishedOn: new Date('2026-11-21T10:00:00Z') } } };
  assertCode(() => provenancePredicate(inverted), 'ERR_SLSA_TIME_ORDER', 'FormatError');
});

/**
 * A statement from the field: the SLSA v1 build provenance npm and GitHub Actions attached to gundam-visor@1.0.1, as
 * printed (decoded from its DSSE envelope) in slsa-framework/slsa-verifier docs/npm.md @ 9d55eaeb7c25 (Apache-2.0).
 */
const NPM_GITHUB_STATEMENT = `{
  "_type": "https://in-toto.io/Statement/v1",
  "subject": [
    {
      "name": "pkg:npm/gundam-visor@1.0.1",
      "digest": {
        "sha512": "8d9d7972f676516c75014aa074e11ae604d98f0b64ec6725a61e2838ff3dab162118fa71433fb31e1550d30bd0dec9d086ce032b94457b583900c507acf39c40"
      }
    }
  ],
  "predicateType": "https://slsa.dev/provenance/v1",
  "predicate": {
    "buildDefinition": {
      "buildType": "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
      "externalParameters": {
        "workflow": {
          "ref": "refs/tags/v1.0.1",
          "repository": "https://github.com/ramonpetgrave64/gundam-visor",
          "path": ".github/workflows/npm-publish.yml"
        }
      },
      "internalParameters": {
        "github": {
          "event_name": "release",
          "repository_id": "810002373",
          "repository_owner_id": "32398091"
        }
      },
      "resolvedDependencies": [
        {
          "uri": "git+https://github.com/ramonpetgrave64/gundam-visor@refs/tags/v1.0.1",
          "digest": {
            "gitCommit": "599500821344b070902a7a5666064bfdaba715df"
          }
        }
      ]
    },
    "runDetails": {
      "builder": {
        "id": "https://github.com/actions/runner/github-hosted"
      },
      "metadata": {
        "invocationId": "https://github.com/ramonpetgrave64/gundam-visor/actions/runs/9358004112/attempts/1"
      }
    }
  }
}`;

test('a SLSA v1 statement from the field (npm + GitHub Actions) parses, and our builder writes its predicate back identically', () => {
  const statement = statementFromJson(JSON.parse(NPM_GITHUB_STATEMENT) as JsonObject);
  const p = provenanceFromStatement(statement);
  assert.equal(p.buildDefinition.buildType, 'https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1');
  assert.equal(p.runDetails.builder.id, 'https://github.com/actions/runner/github-hosted');
  assert.deepEqual(p.buildDefinition.resolvedDependencies, [
    { uri: 'git+https://github.com/ramonpetgrave64/gundam-visor@refs/tags/v1.0.1', digest: { gitCommit: '599500821344b070902a7a5666064bfdaba715df' } },
  ]);
  assert.equal(p.runDetails.metadata?.invocationId, 'https://github.com/ramonpetgrave64/gundam-visor/actions/runs/9358004112/attempts/1');
  // Same fields, same order, same values: what we write is what the field writes.
  assert.equal(JSON.stringify(provenancePredicate(p)), JSON.stringify(statement.predicate));
});
