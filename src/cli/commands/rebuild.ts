/**
 * cli/commands/rebuild — `custody rebuild-check A B [--json]`: compares two build outputs (rebuild/compare) and prints
 * one line per difference; exit 1 with ERR_REBUILD_DIFFERS when there is any. docs/attestations.md, "Rebuild check".
 */
import { UsageError, VerificationError } from '../../errors.ts';
import { compareOutputs, formatDifference } from '../../rebuild/compare.ts';
import { abs } from '../common.ts';
import { parseCommandArgs, type Command } from '../context.ts';
import { safe } from './printable.ts';

export const rebuildCheck: Command = {
  summary: 'compare two build outputs (directories, tar, PSPF packages, SBOMs) and report every difference',
  usage: `usage: custody rebuild-check A B [--json]

Compares two outputs of the same build (two directories, two tar archives — gzip-compressed or not —, two PSPF
packages, two SBOMs, or two plain files) entry by entry and prints one line per difference, sorted by path:

  only-in-A PATH | only-in-B PATH
  type PATH A=file B=symlink       content PATH A=sha256:… B=sha256:…     link PATH A=target B=target
  mode PATH A=0755 B=0644          mtime PATH A=1700000000 B=1700000001  uid / gid PATH A=0 B=1000 (tar)
  order PATH A=#2 B=#3             (position among the entries both archives hold: tar entries, package slots)

Directories are walked without following symlinks (ownership is not compared); PSPF packages are compared by their
signed metadata document, launcher and every slot (tar slots entry by entry under SLOT-ID/); SBOMs by components
(version, purl, licenses) and files (digests).

options:
  --json   print {"ok":true,"kind":K,"entries_a":N,"entries_b":N,"differences":[]} when identical; otherwise the
           error object carries {"details":{"kind":K,"differences":[{"path","kind","a","b"}…]}}

exit status: 0 identical, 1 any difference (ERR_REBUILD_DIFFERS) or malformed input, 2 usage or A and B of
different kinds (ERR_REBUILD_KIND_MISMATCH), 3 unreadable.

example:
  custody rebuild-check build-1/out build-2/out
  custody rebuild-check first/app.tar.gz second/app.tar.gz --json`,
  async run(ctx) {
    const { positionals } = parseCommandArgs(ctx.argv, {});
    if (positionals.length !== 2) throw new UsageError('ERR_USAGE_ARGUMENT', `expected two build outputs A and B, got ${positionals.length}`);
    const r = await compareOutputs(abs(ctx, positionals[0]!), abs(ctx, positionals[1]!));
    if (r.differences.length === 0) {
      ctx.print(`identical: ${r.entriesA} entr${r.entriesA === 1 ? 'y' : 'ies'} (${r.kind})`);
      ctx.result({ kind: r.kind, entries_a: r.entriesA, entries_b: r.entriesB, differences: [] });
      return 0;
    }
    for (const d of r.differences) ctx.print(safe(formatDifference(d)));
    const n = r.differences.length;
    throw new VerificationError('ERR_REBUILD_DIFFERS', `${n} difference${n === 1 ? '' : 's'} between A (${r.entriesA} entries) and B (${r.entriesB} entries)`, {
      details: { kind: r.kind, entries_a: r.entriesA, entries_b: r.entriesB, differences: r.differences },
    });
  },
};
