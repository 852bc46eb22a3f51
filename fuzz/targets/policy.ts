/**
 * fuzz/targets/policy — policy files (src/policy/policy.ts `parsePolicy`), JSON and YAML, seeded from a full policy
 * in both forms.
 */
import fc from 'fast-check';
import { parsePolicy } from '../../src/policy/policy.ts';
import { jsonFieldMutations, lineMutations } from '../structured.ts';
import { enc, type FuzzTarget } from '../target.ts';

const POLICY = {
  version: 1,
  required_predicate_types: ['https://slsa.dev/provenance/v1', 'https://spdx.dev/Document'],
  trusted_builders: ['https://builder.example/*'],
  subject_names: ['*.tar.gz'],
  max_age: '7d',
  source_repositories: ['git+https://git.example/acme/*'],
  max_severity: 'medium',
  signers: { key_ids: ['a'.repeat(64), 'b'.repeat(64)], threshold: 1 },
};

const YAML = `# release policy
version: 1
required_predicate_types:
  - https://slsa.dev/provenance/v1
trusted_builders: ["https://builder.example/*"]
subject_names: ['*.tar.gz']
max_age: 30d
max_severity: high
signers:
  key_ids:
    - ${'c'.repeat(64)}
  threshold: 1
`;

export const policy: FuzzTarget = {
  name: 'policy',
  parses: 'policy files (JSON and YAML)',
  make() {
    const json = JSON.stringify(POLICY, null, 2);
    return Promise.resolve({
      seeds: [enc.encode(json), enc.encode(YAML), enc.encode(JSON.stringify({ version: 1, required_predicate_types: ['x'] }))],
      structured: fc.oneof(jsonFieldMutations([POLICY as never]), lineMutations([YAML])),
      run: (input: Uint8Array) => parsePolicy(input),
    });
  },
};
