/**
 * fuzz/targets/vuln — OSV records (src/vuln/osv.ts `parseOsvRecord`), then the version-range evaluation
 * (src/vuln/scan.ts `isAffected`) of every parsed affected[] entry for a few versions, seeded from test/fixtures/osv.
 */
import { parseOsvRecord } from '../../src/vuln/osv.ts';
import { isAffected } from '../../src/vuln/scan.ts';
import { jsonFieldMutations } from '../structured.ts';
import { dec, type FuzzTarget } from '../target.ts';
import { corpusFiles } from './corpus.ts';

const VERSIONS = ['0.0.0', '1.0.0', '1.2.3-beta.1', '2:1.0-1', 'v1', ''];

export const osv: FuzzTarget = {
  name: 'osv',
  parses: 'OSV vulnerability records (parse, then range evaluation for a few versions)',
  async make(ctx) {
    const seeds = await corpusFiles(ctx.repoRoot, (p) => p.startsWith('fixtures/osv/') && p.endsWith('.json'), 20, 256 * 1024);
    if (seeds.length === 0) throw new Error('osv target: no seeds under test/fixtures/osv');
    return {
      seeds,
      structured: jsonFieldMutations(seeds.map((s) => JSON.parse(dec.decode(s)) as never)),
      run(input: Uint8Array) {
        const parsed = parseOsvRecord(input, 'fuzz.json');
        for (const a of parsed.record.affected) {
          for (const v of [...VERSIONS, ...a.versions.slice(0, 3), ...a.ranges.flatMap((r) => r.events.slice(0, 3).map((e) => Object.values(e)[0] as string))]) {
            isAffected(v, a);
          }
        }
        return parsed;
      },
    };
  },
};
