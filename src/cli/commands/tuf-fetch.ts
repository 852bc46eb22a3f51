/**
 * cli/commands/tuf-fetch — `custody fetch --tuf URL`: the release of a channel/arch through the TUF repository a
 * provider serves under `/tuf/` (client/tuf-client: the TUF 1.0 client workflow, §5), instead of its manifest.
 * Reached from `custody fetch` (cli/commands/provider) when `--tuf` is given; loaded only then.
 */
import { tufFetch } from '../../client/tuf-client.ts';
import { UsageError } from '../../errors.ts';
import { verifyPinnedRoot } from '../../trust/root.ts';
import { abs, readRootFile } from '../common.ts';
import { intOption, parseCommandArgs, requireOption, type CommandContext } from '../context.ts';

/** runTufFetch runs `custody fetch --tuf …`. */
export async function runTufFetch(ctx: CommandContext): Promise<number> {
  const { values, positionals } = parseCommandArgs(ctx.argv, {
    tuf: { type: 'string' },
    channel: { type: 'string' },
    arch: { type: 'string' },
    trust: { type: 'string' },
    'root-fingerprint': { type: 'string' },
    state: { type: 'string' },
    output: { type: 'string' },
    artifact: { type: 'string', multiple: true },
    timeout: { type: 'string' },
    'stall-timeout': { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError('ERR_USAGE_ARGUMENT', 'with --tuf, the repository is the --tuf URL: no provider URLs');
  if ((values.trust === undefined) === (values['root-fingerprint'] === undefined)) {
    throw new UsageError('ERR_USAGE_ARGUMENT', 'pass exactly one of --trust ROOT and --root-fingerprint sha256:HEX');
  }
  const totalS = intOption(values.timeout, 'timeout', 1, 86_400);
  const stallS = intOption(values['stall-timeout'], 'stall-timeout', 1, 3_600);
  const url = requireOption(values.tuf, 'tuf');
  const channel = requireOption(values.channel, 'channel');
  const arch = requireOption(values.arch, 'arch');
  const stateDir = abs(ctx, requireOption(values.state, 'state'));
  const outputDir = abs(ctx, requireOption(values.output, 'output'));
  // An expired pinned root may still vouch for its successors (TUF §5.3); the root finally used must be current.
  const trust =
    values.trust !== undefined
      ? { root: verifyPinnedRoot(readRootFile(ctx, values.trust), { now: ctx.now(), allowExpired: true }) }
      : { fingerprint: values['root-fingerprint']! };
  const r = await tufFetch({
    url,
    channel,
    arch,
    trust,
    stateDir,
    outputDir,
    artifacts: values.artifact,
    now: ctx.now,
    ...(totalS === undefined ? {} : { totalMs: totalS * 1000 }),
    ...(stallS === undefined ? {} : { stallMs: stallS * 1000 }),
  });
  const v = r.versions;
  ctx.print(`VERIFIED ${r.channel}/${r.arch} version ${r.version ?? '?'} sequence ${r.sequence} from ${url} (TUF)`);
  ctx.print(`  root v${v.root}, timestamp v${v.timestamp}, snapshot v${v.snapshot}, targets v${v.targets}`);
  for (const f of r.files) ctx.print(`  ${f.filename}  ${f.size} bytes  sha256 ok`);
  ctx.result({
    channel: r.channel,
    arch: r.arch,
    version: r.version ?? null,
    sequence: r.sequence,
    tuf: { url, root: v.root, timestamp: v.timestamp, snapshot: v.snapshot, targets: v.targets },
    files: r.files,
  });
  return 0;
}
