/**
 * cli/commands/install — `custody install` (fetch, verify, switch atomically, health-check, roll back on failure),
 * `custody rollback` and `custody status` over an install target directory (client/install; docs/install.md).
 */
import { splitCommand } from '../../client/health-check.ts';
import { parseDuration } from '../../encoding/time.ts';
import { DEFAULT_CHECK_TIMEOUT_MS, DEFAULT_KEEP, installRelease, rollbackRelease, targetStatus } from '../../client/install.ts';
import { printable } from '../../encoding/text.ts';
import { UsageError } from '../../errors.ts';
import { writeFileAtomic } from '../../io/files.ts';
import { formatRoot, verifyPinnedRoot } from '../../trust/root.ts';
import { abs, readRootFile } from '../common.ts';
import { intOption, parseCommandArgs, requireOption, type Command, type CommandContext } from '../context.ts';
import { progressBars } from '../progress.ts';
import { RELEASE_CLIENT_OPTIONS, checkReleaseFlags } from '../release-options.ts';
import { fetchPolicy } from './provider.ts';

const recoveredLine = (ctx: CommandContext, r: { op: string; from: number | null; to: number; action: string } | undefined): void => {
  if (r !== undefined) ctx.stderr(`custody: note: an interrupted ${r.op} (${r.from ?? 'none'} → ${r.to}) was ${r.action}\n`);
};

export const install: Command = {
  summary: 'install the newest verified release into DIR/releases/<sequence> and switch DIR/current atomically, with health check and rollback',
  usage: `usage: custody install [URL…] [--discover --bootstrap MA…] --channel CH --arch ARCH (--trust ROOT | --root-fingerprint sha256:HEX)
                       --target DIR [--check 'CMD ARG…'] [--check-timeout 60s] [--keep N] [--require-log VKEY]
                       [--policy P [--key K.pub]… [--vulndb DB]] [--retry] [--timeout S] [--stall-timeout S] [--min-speed B]

Fetches the newest release of CH/ARCH exactly as custody fetch does (threshold of trust-root keys, expiry, log
proof, every artifact's size and SHA-256 while it downloads) into a new directory DIR/releases/<sequence>/ with
its manifest.json, .tlog-proof and release.json, then points DIR/current at it (a symlink replaced by one
rename). With --check, the command runs with the new release active; when it fails or times out, DIR/current is
switched back to the release that was active before and the command exits 1 (ERR_INSTALL_CHECK_FAILED). A
release already in DIR is not downloaded again; one that was rolled back is not installed again unless --retry.
DIR/install.json keeps the highest sequence installed: an older manifest is refused even when it is all a
provider serves. A run killed at any point leaves the old or the new release active; the next install, rollback
or status settles the half-done step (docs/install.md).

  --target DIR            the install target (created if missing; DIR/releases must be on the same file system)
  --check 'CMD ARG…'      health check, split into words WITHOUT a shell: spaces separate words, '…' is literal,
                          "…" allows \\" and \\\\, a backslash quotes the next character; no $VAR, globs, pipes.
                          Use --check "sh -c '…'" for a shell. Runs in the new release's directory with
                          CUSTODY_RELEASE_DIR, CUSTODY_RELEASE_SEQUENCE, CUSTODY_RELEASE_VERSION, CUSTODY_CHANNEL,
                          CUSTODY_ARCH, CUSTODY_TARGET and CUSTODY_PREVIOUS_RELEASE_DIR set; exit 0 means healthy
  --check-timeout D       kill the check (its whole process group) after D: 60s (default), 500ms, 2m
  --keep N                releases kept besides the active and the previous one (default ${DEFAULT_KEEP}); older ones
                          are deleted after a successful install
  --retry                 install a release again even though it was rolled back before
  --trust, --root-fingerprint, --require-log, --policy, --key, --vulndb, --timeout, --stall-timeout, --min-speed: as custody fetch
  --discover, --bootstrap MA…, --mdns, --ephemeral, --data DIR, --discover-timeout D: also find providers over
                          libp2p, as custody fetch --discover (docs/discovery.md); URLs become optional

On a terminal each download shows a progress bar on stderr; piped or with --json, only the result.

example:
  custody install http://127.0.0.1:8080 --channel stable --arch x86_64 --root-fingerprint sha256:… \\
      --target /opt/app --check '/opt/app/current/healthcheck --quick' --check-timeout 30s`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      // fetch's flags, --discover included (issue 14, docs/discovery.md: providers found over libp2p, verified like any URL)
      ...RELEASE_CLIENT_OPTIONS,
      target: { type: 'string' },
      check: { type: 'string' },
      'check-timeout': { type: 'string' },
      keep: { type: 'string' },
      retry: { type: 'boolean' },
    });
    checkReleaseFlags(values, positionals);
    const channel = requireOption(values.channel, 'channel');
    const arch = requireOption(values.arch, 'arch');
    const target = abs(ctx, requireOption(values.target, 'target'));
    const check = values.check === undefined ? undefined : splitCommand(values.check);
    if (values['check-timeout'] !== undefined && check === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', '--check-timeout needs --check');
    const checkTimeoutMs = values['check-timeout'] === undefined ? DEFAULT_CHECK_TIMEOUT_MS : parseDuration(values['check-timeout'], '--check-timeout', { maxMs: 86_400_000, bareSeconds: true });
    const keep = intOption(values.keep, 'keep', 1, 1000);
    const totalS = intOption(values.timeout, 'timeout', 1, 86_400);
    const stallS = intOption(values['stall-timeout'], 'stall-timeout', 1, 3_600);
    const minSpeed = intOption(values['min-speed'], 'min-speed', 0, 1_000_000_000);
    const pinned = values.trust === undefined ? undefined : verifyPinnedRoot(readRootFile(ctx, values.trust), { now: ctx.now(), allowExpired: true });
    const { policy, closeScanner } = await fetchPolicy(ctx, values);
    const found = values.discover === true ? await (await import('./p2p.ts')).providersWithDiscovery(ctx, values, positionals, channel, arch) : undefined;
    const progress = await progressBars(ctx);
    const r = await installRelease({
      providers: found?.providers ?? positionals,
      channel,
      arch,
      trust: pinned !== undefined ? { root: pinned } : { fingerprint: values['root-fingerprint']! },
      requireLog: values['require-log'],
      policy,
      now: ctx.now,
      ...(totalS === undefined ? {} : { totalTimeoutMs: totalS * 1000 }),
      ...(stallS === undefined ? {} : { timeoutMs: stallS * 1000 }),
      ...(minSpeed === undefined ? {} : { minBytesPerSecond: minSpeed }),
      onProgress: progress.onProgress,
      onEvent: (e) => {
        if (e.code !== undefined) ctx.stderr(`custody: warning: ${printable(e.provider, 200)}: ${e.what}: ${printable(e.message ?? '')} [${e.code}]\n`);
      },
      target,
      check,
      checkTimeoutMs,
      checkEnv: { ...ctx.env },
      checkOutput: (s) => {
        // The downloads are over when the check speaks: the bars stop redrawing over its output.
        progress.stop();
        ctx.stderr(s);
      },
      keep,
      retry: values.retry ?? false,
      crashAt: ctx.env.CUSTODY_TEST_CRASH_AT,
    }).finally(() => {
      progress.stop();
      closeScanner();
    });
    await found?.verified([r.fetched.manifestProvider, ...r.fetched.files.map((f) => f.provider)]);
    recoveredLine(ctx, r.recovered);
    if (r.fetched.rootUpdated && values.trust !== undefined) {
      await writeFileAtomic(abs(ctx, values.trust), formatRoot(r.fetched.root));
      ctx.print(`trust root updated to version ${r.fetched.root.version} (${values.trust})`);
    }
    const m = r.fetched.manifest;
    const what = `${channel}/${arch} version ${printable(m.manifest.version, 100)} sequence ${r.sequence}`;
    if (r.action === 'unchanged') ctx.print(`UNCHANGED ${what} is already active in ${target}`);
    else if (r.action === 'skipped-rejected') ctx.print(`NOT INSTALLED ${what}: it was rolled back before (install --retry to try it again)`);
    else {
      ctx.print(`INSTALLED ${what}${r.action === 'reactivated' ? ' (kept from an earlier run, re-verified)' : ''} → ${target}/current`);
      ctx.print(`  signed by ${m.signers.length}/${m.threshold}: ${m.signers.join(', ')}`);
      if (r.fetched.logIndex !== undefined) ctx.print(`  logged at index ${r.fetched.logIndex}`);
      for (const f of r.fetched.files) ctx.print(`  ${f.filename}  ${f.size} bytes  sha256 ok  (${f.provider})`);
      if (r.check !== undefined) ctx.print('  health check passed');
      ctx.print(`  previous: ${r.previous ?? 'none'}`);
      if (r.pruned.length > 0) ctx.print(`  pruned: ${r.pruned.join(', ')}`);
    }
    ctx.result({
      action: r.action,
      channel,
      arch,
      version: m.manifest.version,
      sequence: r.sequence,
      digest: m.digest,
      signers: m.signers,
      log_index: r.fetched.logIndex ?? null,
      provider: r.fetched.manifestProvider,
      target,
      release_dir: `${target}/releases/${r.sequence}`,
      previous: r.previous,
      files: r.fetched.files,
      check: r.check === undefined ? null : { ok: r.check.ok, exit_code: r.check.exitCode },
      pruned: r.pruned,
      recovered: r.recovered ?? null,
    });
    return 0;
  },
};

export const rollback: Command = {
  summary: 'switch an install target back to its previous verified release',
  usage: `usage: custody rollback --target DIR

Re-checks the previous release kept in DIR/releases (its manifest.json is the one verified at install time, its
files hash to what that manifest signs), then points DIR/current at it in one rename. The release left is marked
rolled back: custody install does not install it again (unless --retry) and waits for a newer one.

example:
  custody rollback --target /opt/app`,
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.argv, { target: { type: 'string' } }, false);
    const target = abs(ctx, requireOption(values.target, 'target'));
    const r = await rollbackRelease({ target, now: ctx.now, crashAt: ctx.env.CUSTODY_TEST_CRASH_AT });
    recoveredLine(ctx, r.recovered);
    ctx.print(`ROLLED BACK ${target}: sequence ${r.from} → ${r.to} (version ${printable(r.record.version, 100)}, re-verified)`);
    ctx.result({ target, from: r.from, to: r.to, version: r.record.version, recovered: r.recovered ?? null });
    return 0;
  },
};

export const status: Command = {
  summary: 'show the active release of an install target: manifest, signers, log entry, and the releases kept',
  usage: `usage: custody status --target DIR [--json]

Shows the release DIR/current points to (channel, arch, version, sequence, manifest digest, the keys that signed
it, its transparency-log entry, the provider it came from), the previous release, the highest sequence installed
(rollback protection) and every release kept. Settles a step left half done by an interrupted install or
rollback first, unless one is running (then the state is shown as it stands).

example:
  custody status --target /opt/app --json`,
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.argv, { target: { type: 'string' } }, false);
    const target = abs(ctx, requireOption(values.target, 'target'));
    const s = await targetStatus({ target, now: ctx.now });
    recoveredLine(ctx, s.recovered);
    if (s.inProgress !== null) ctx.print(`an install or rollback is running (pid ${s.inProgress})`);
    if (s.active === null) ctx.print(`${target}: no active release${s.channel === null ? '' : ` (${s.channel}/${s.arch})`}`);
    else {
      const r = s.active.record;
      ctx.print(`ACTIVE ${r.channel}/${r.arch} version ${printable(r.version, 100)} sequence ${r.sequence}  (${s.active.dir})`);
      ctx.print(`  manifest ${r.digest}  from ${printable(r.provider, 200)}  installed ${r.installed_at}`);
      ctx.print(`  signed by ${r.signers.length}/${r.threshold}: ${r.signers.join(', ')}  (trust root version ${r.root_version})`);
      ctx.print(r.log === null ? '  not checked against a log (installed without --require-log)' : `  logged at index ${r.log.index} in ${printable(r.log.vkey, 200)}`);
    }
    ctx.print(`  previous: ${s.previous ?? 'none'}   highest installed: ${s.highest ?? 'none'}`);
    for (const k of s.releases) ctx.print(`  ${String(k.sequence).padEnd(12)} ${printable(k.version ?? '?', 60).padEnd(20)} ${k.state}`);
    ctx.result({
      target,
      channel: s.channel,
      arch: s.arch,
      active: s.active === null ? null : { ...s.active.record, dir: s.active.dir },
      previous: s.previous,
      highest: s.highest,
      releases: s.releases,
      rejected: s.rejected,
      in_progress: s.inProgress,
      recovered: s.recovered ?? null,
    });
    return 0;
  },
};
