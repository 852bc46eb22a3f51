/**
 * fuzz/targets/sbom — the SBOM reader (src/sbom/read.ts: SPDX 2.2/2.3, CycloneDX 1.4–1.6 JSON) and the npm
 * lockfile parser (src/sbom/collect.ts `parseLockfile`, lockfileVersion 1–3), seeded from the documents Custody
 * writes for the test lockfiles.
 */
import { parseLockfile } from '../../src/sbom/collect.ts';
import { formatCycloneDx } from '../../src/sbom/cyclonedx.ts';
import { readSbomComponents } from '../../src/sbom/read.ts';
import { formatSpdx } from '../../src/sbom/spdx.ts';
import { LOCK_V1, LOCK_V3 } from '../../test/sbom/fixtures.ts';
import { jsonFieldMutations } from '../structured.ts';
import { enc, type FuzzTarget } from '../target.ts';
import { corpusFiles } from './corpus.ts';

const CREATED = new Date('2026-11-21T00:00:00Z');

/** sbomDocs are an SPDX 2.3 and a CycloneDX document of each test lockfile, as Custody writes them. */
function sbomDocs(): string[] {
  const out: string[] = [];
  for (const lock of [LOCK_V3, LOCK_V1]) {
    const input = parseLockfile(enc.encode(JSON.stringify(lock)));
    out.push(formatSpdx(input, { created: CREATED }), formatCycloneDx(input, { created: CREATED }));
  }
  return out;
}

export const sbomRead: FuzzTarget = {
  name: 'sbom-read',
  parses: 'SBOMs read for scanning (SPDX 2.2/2.3, CycloneDX 1.4–1.6 JSON)',
  async make(ctx) {
    const docs = sbomDocs();
    const corpus = await corpusFiles(ctx.repoRoot, (p) => /\.(spdx|cdx)\.json$|sbom.*\.json$/i.test(p), 20, 256 * 1024);
    return {
      seeds: [...docs.map((d) => enc.encode(d)), ...corpus],
      structured: jsonFieldMutations(docs.map((d) => JSON.parse(d) as never)),
      run: (input: Uint8Array) => readSbomComponents(input),
    };
  },
};

export const lockfile: FuzzTarget = {
  name: 'lockfile',
  parses: 'npm package-lock.json (lockfileVersion 1, 2, 3)',
  async make(ctx) {
    const v2 = { ...LOCK_V3, lockfileVersion: 2, dependencies: LOCK_V1.dependencies };
    const docs = [LOCK_V3, LOCK_V1, v2];
    const corpus = await corpusFiles(ctx.repoRoot, (p) => /lock.*\.json$/i.test(p), 10, 256 * 1024);
    return {
      seeds: [...docs.map((d) => enc.encode(JSON.stringify(d, null, 2))), ...corpus],
      structured: jsonFieldMutations(docs),
      run: (input: Uint8Array) => parseLockfile(input),
    };
  },
};
