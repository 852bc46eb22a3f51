/**
 * sbom/attest: the statement an attested SBOM carries (predicate types from the in-toto predicate list, subjects
 * per input kind) and its refusals: an empty tree has no subject, and an envelope verifiers would refuse as too
 * large is never made.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DSSE_MAX_ENVELOPE_BYTES, keysFromPublicKeys } from '../../src/attest/dsse.ts';
import { verifyAttestation } from '../../src/attest/verify.ts';
import { parseLockfile, type SbomInput } from '../../src/sbom/collect.ts';
import { CYCLONEDX_PREDICATE_TYPE, SPDX_PREDICATE_TYPE, attestSbom, sbomSubjects } from '../../src/sbom/attest.ts';
import { formatSpdx } from '../../src/sbom/spdx.ts';
import { assertCode } from '../support/assert.ts';
import { key } from '../support/fixtures.ts';
import { LOCK_V3 } from './fixtures.ts';

const empty: SbomInput = { kind: 'directory', name: 'empty', version: undefined, files: [], root: undefined, packages: [], source: undefined, skipped: [] };

test('predicate types are the in-toto predicate list\'s; the lockfile is the one subject of a lockfile SBOM', () => {
  assert.equal(SPDX_PREDICATE_TYPE, 'https://spdx.dev/Document');
  assert.equal(CYCLONEDX_PREDICATE_TYPE, 'https://cyclonedx.org/bom');
  const input = parseLockfile(Buffer.from(JSON.stringify(LOCK_V3)), 'npm-shrinkwrap.json');
  const text = formatSpdx(input, { created: new Date(0) });
  const signer = key('sbom');
  const v = verifyAttestation(attestSbom(input, 'spdx', text, [signer]), keysFromPublicKeys([signer.publicKey]));
  assert.deepEqual(v.statement.subject, [{ name: 'npm-shrinkwrap.json', digest: { sha256: input.source!.sha256 } }]);
  assert.equal(v.statement.predicateType, SPDX_PREDICATE_TYPE);
  assert.deepEqual(v.statement.predicate, JSON.parse(text));
});

test('an empty tree has no subject to attest (ERR_USAGE_ARGUMENT); an oversized envelope is ERR_SBOM_OUTPUT_LIMIT', () => {
  assertCode(() => sbomSubjects(empty), 'ERR_USAGE_ARGUMENT');
  const input = parseLockfile(Buffer.from(JSON.stringify(LOCK_V3)));
  // A predicate whose base64 alone passes the envelope cap verifiers enforce.
  const huge = JSON.stringify({ pad: 'x'.repeat(Math.ceil((DSSE_MAX_ENVELOPE_BYTES * 3) / 4)) });
  assertCode(() => attestSbom(input, 'cyclonedx', huge, [key('sbom')]), 'ERR_SBOM_OUTPUT_LIMIT', 'LimitError');
});
