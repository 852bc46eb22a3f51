/** test/support/attest — signed in-toto attestations (SLSA v1 provenance, SPDX) for policy, promote and fetch tests. */
import { createHash } from 'node:crypto';
import { INTOTO_PAYLOAD_TYPE, encodeStatement, formatJsonl, signEnvelope, type DsseEnvelope } from '../../src/attest/index.ts';
import type { PrivateKey } from '../../src/crypto/index.ts';
import type { JsonObject } from '../../src/encoding/json.ts';

export const SLSA_V1 = 'https://slsa.dev/provenance/v1';
export const SPDX_TYPE = 'https://spdx.dev/Document';
export const BUILDER = 'https://builder.example/ci@v1';
export const REPO = 'git+https://git.example/acme/app@refs/heads/main';

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** provenance is an SLSA v1 predicate as the spec names its fields. */
export function provenance(o: { builder?: string; finishedOn?: string; repo?: string } = {}): JsonObject {
  return {
    buildDefinition: {
      buildType: 'https://builder.example/build/v1',
      externalParameters: { source: o.repo ?? REPO },
      resolvedDependencies: [{ uri: o.repo ?? REPO, digest: { gitCommit: 'a'.repeat(40) } }],
    },
    runDetails: {
      builder: { id: o.builder ?? BUILDER },
      metadata: { invocationId: 'run-1', startedOn: '2026-11-20T23:50:00Z', finishedOn: o.finishedOn ?? '2026-11-21T00:00:00Z' },
    },
  };
}

/** attest signs a statement over `subjects` (name → bytes or digest) with `keys`. */
export function attest(subjects: Record<string, string | Uint8Array>, predicateType: string, predicate: JsonObject, keys: PrivateKey[]): DsseEnvelope {
  const subject = Object.entries(subjects).map(([name, data]) => ({ name, digest: { sha256: sha256Hex(data) } }));
  return signEnvelope(INTOTO_PAYLOAD_TYPE, encodeStatement({ subject, predicateType, predicate }), keys);
}

/** jsonl renders envelopes as an .intoto.jsonl file. */
export function jsonl(...envs: DsseEnvelope[]): string {
  return formatJsonl(envs);
}
