/**
 * cli/commands/provider — the provider's clients: `custody fetch` (download a release from untrusted providers and
 * verify everything) and `custody publish` (upload artifacts to a running `custody serve` and release them).
 */
import { basename } from 'node:path';
import { MAX_PROVIDERS, fetchRelease, type FetchReleaseOptions } from '../../client/provider-client.ts';
import type { PublicKey } from '../../crypto/index.ts';
import { loadPublicKey } from '../../keys/key-file.ts';
import { requestRelease, uploadBlob } from '../../client/publish.ts';
import { printable } from '../../encoding/text.ts';
import { parseDuration } from '../../encoding/time.ts';
import { UsageError } from '../../errors.ts';
import { openRegularFile, writeFileAtomic } from '../../io/files.ts';
import { hashOpenFile } from '../../io/hash-file.ts';
import { artifactNameFor } from '../../manifest/create.ts';
import { loadState, recordManifest, saveState } from '../../manifest/state.ts';
import { formatRoot, verifyPinnedRoot } from '../../trust/root.ts';
import { abs, readRootFile, readTokenFile } from '../common.ts';
import { intOption, parseCommandArgs, requireOption, type Command, type CommandContext } from '../context.ts';
import { progressBars } from '../progress.ts';
import { RELEASE_CLIENT_OPTIONS, checkReleaseFlags } from '../release-options.ts';
import { TUF_FETCH_HELP, TUF_FETCH_USAGE_LINES } from './tuf-fetch-usage.ts';

export const fetchCommand: Command = {
  summary: 'download a release from untrusted providers, verifying manifest, log proof and every artifact',
  usage: `usage: custody fetch [URL…] [--discover --bootstrap MA…] --channel CH --arch ARCH (--trust ROOT | --root-fingerprint sha256:HEX)
                     --output DIR [--state FILE] [--require-log VKEY] [--artifact NAME]…
                     [--timeout SECONDS] [--stall-timeout SECONDS] [--min-speed BYTES] [--policy P [--key K.pub]… [--vulndb DB]]
${TUF_FETCH_USAGE_LINES}

Takes the manifest from the first provider whose manifest verifies (threshold of trust-root keys, not expired, the
channel/arch asked for, sequence not below --state), then downloads each artifact from the first provider whose
bytes match the signed size and SHA-256. Nothing unverified is left in DIR: downloads go to a temporary file and
are renamed only after the check. The verified manifest.json (and its .tlog-proof) are written to DIR too. On a
terminal each download shows a progress bar on stderr (bytes, rate, ETA); piped or with --json, only the result.

  --trust ROOT               pinned trust root; newer versions served at /trust/<N>.root.json are verified
                             (old and new root thresholds, TUF §5.3) and written back to ROOT
  --root-fingerprint FP      instead of ROOT: trust the provider's /trust/root.json only if it hashes to FP
                             (printed by custody serve)
  --state FILE               rollback protection: remembers the highest sequence per channel/arch
  --require-log VKEY         refuse a manifest without an inclusion proof under this log key
  --artifact NAME            fetch only this artifact (repeatable; default all)
  --policy P                 before keeping anything, download the release's attestations
                             (/<channel>/<arch>/attestations), verify them (signed by the trust root's targets
                             keys, or --key keys) and judge each artifact under the policy (docs/attestations.md);
                             a refusal leaves DIR untouched
  --key K.pub                also trust this key's attestation signatures (repeatable; with --policy)
  --vulndb DB                the OSV database for the policy's max_severity (as custody verify-attestation)
  --discover                 also find providers over libp2p (docs/discovery.md): with --bootstrap MULTIADDR…
                             and/or --mdns, --ephemeral, --data DIR (peer key and the ranking of providers that
                             served verified content), --discover-timeout DURATION (default 30s). Found providers
                             are untrusted like any URL: everything is verified as usual
  --timeout SECONDS          time allowed for the whole fetch (default 300)
  --stall-timeout SECONDS    a provider silent this long (before its headers or mid-body) is dropped for the
                             rest of the run (default 60); so is one giving a bad answer. Network errors and
                             5xx answers are retried twice; definitive answers (404, coded refusals) are not
  --min-speed BYTES          so is a provider moving fewer than BYTES per second over a stall-timeout window,
                             which keeps a trickling provider from holding the fetch (default 4096; 0 = no floor)

HTTPS with a private CA: set NODE_EXTRA_CA_CERTS=ca.pem.

${TUF_FETCH_HELP}

examples:
  custody fetch http://10.0.0.5:8080 http://10.0.0.6:8080 --channel stable --arch x86_64 \\
      --trust root.json --state boot.state --require-log "$(cat log.vkey)" --output /boot/next
  custody fetch --tuf http://10.0.0.5:8080/tuf --channel stable --arch x86_64 --trust root.json \\
      --state tuf-state --output /boot/next`,
  async run(ctx) {
    // --tuf: the same releases through the provider's TUF repository (cli/commands/tuf-fetch), loaded only then.
    if (ctx.argv.some((a) => a === '--tuf' || a.startsWith('--tuf='))) return (await import('./tuf-fetch.ts')).runTufFetch(ctx);
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      ...RELEASE_CLIENT_OPTIONS,
      output: { type: 'string' },
      state: { type: 'string' },
      artifact: { type: 'string', multiple: true },
    });
    checkReleaseFlags(values, positionals);
    const totalS = intOption(values.timeout, 'timeout', 1, 86_400);
    const stallS = intOption(values['stall-timeout'], 'stall-timeout', 1, 3_600);
    const minSpeed = intOption(values['min-speed'], 'min-speed', 0, 1_000_000_000);
    const channel = requireOption(values.channel, 'channel');
    const arch = requireOption(values.arch, 'arch');
    const output = abs(ctx, requireOption(values.output, 'output'));
    // An expired pinned root may still vouch for its successors (TUF §5.3); the root finally used must be current.
    const pinned = values.trust === undefined ? undefined : verifyPinnedRoot(readRootFile(ctx, values.trust), { now: ctx.now(), allowExpired: true });
    const statePath = values.state === undefined ? undefined : abs(ctx, values.state);
    const state = statePath === undefined ? undefined : await loadState(statePath);
    const { policy, closeScanner } = await fetchPolicy(ctx, values);
    const progress = await progressBars(ctx);
    const events: Array<{ provider: string; what: string; code?: string; message?: string }> = [];
    // --discover: providers found over libp2p join the URLs given (discovery is untrusted; everything is verified
    // below as for any URL), the ones given first.
    let providers = positionals;
    let discovered: Awaited<ReturnType<typeof import('./p2p.ts').discoverUrls>> | undefined;
    if (values.discover === true) {
      const { discoverUrls } = await import('./p2p.ts');
      discovered = await discoverUrls(ctx, values, channel, arch, parseDuration(values['discover-timeout'] ?? '30s', '--discover-timeout', { minMs: 100, maxMs: 3_600_000, bareSeconds: true }));
      await discovered.stop();
      for (const p of discovered.providers) ctx.stderr(`custody: discovered ${printable(p.url, 300)} (peer ${p.peerId}${p.preferred ? ', verified before' : ''})\n`);
      providers = [...positionals, ...discovered.providers.map((p) => p.url)].slice(0, MAX_PROVIDERS);
    }
    const r = await fetchRelease({
      providers,
      channel,
      arch,
      trust: pinned !== undefined ? { root: pinned } : { fingerprint: values['root-fingerprint']! },
      state,
      requireLog: values['require-log'],
      outputDir: output,
      artifacts: values.artifact,
      policy,
      now: ctx.now,
      ...(totalS === undefined ? {} : { totalTimeoutMs: totalS * 1000 }),
      ...(stallS === undefined ? {} : { timeoutMs: stallS * 1000 }),
      ...(minSpeed === undefined ? {} : { minBytesPerSecond: minSpeed }),
      onProgress: progress.onProgress,
      onEvent: (e) => {
        events.push(e);
        if (e.code !== undefined) ctx.stderr(`custody: warning: ${printable(e.provider, 200)}: ${e.what}: ${printable(e.message ?? '')} [${e.code}]\n`);
      },
    }).finally(() => {
      progress.stop();
      closeScanner();
    });
    if (discovered !== undefined) {
      // Rank the peers whose URLs delivered verified bytes first next time.
      const good = new Set([r.manifestProvider, ...r.files.map((f) => f.provider)]);
      await discovered.record(discovered.providers.filter((p) => good.has(new URL(p.url).href)).map((p) => p.peerId));
    }
    if (r.rootUpdated && values.trust !== undefined) {
      await writeFileAtomic(abs(ctx, values.trust), formatRoot(r.root));
      ctx.print(`trust root updated to version ${r.root.version} (${values.trust})`);
    }
    if (state !== undefined && statePath !== undefined) {
      recordManifest(state, r.manifest);
      await saveState(statePath, state);
    }
    const m = r.manifest.manifest;
    ctx.print(`VERIFIED ${m.channel}/${m.arch} version ${m.version} sequence ${m.sequence} from ${r.manifestProvider}`);
    ctx.print(`  signed by ${r.manifest.signers.length}/${r.manifest.threshold}: ${r.manifest.signers.join(', ')}`);
    if (r.logIndex !== undefined) ctx.print(`  logged at index ${r.logIndex}`);
    for (const f of r.files) ctx.print(`  ${f.filename}  ${f.size} bytes  sha256 ok  (${f.provider})`);
    for (const d of r.decisions ?? []) ctx.print(`  ${d.artifact.name}  policy ok  (${d.attestations} attestation(s))`);
    ctx.result({
      channel: m.channel,
      arch: m.arch,
      version: m.version,
      sequence: m.sequence,
      digest: r.manifest.digest,
      signers: r.manifest.signers,
      log_index: r.logIndex ?? null,
      root_version: r.root.version,
      root_updated: r.rootUpdated,
      provider: r.manifestProvider,
      files: r.files,
      ...(r.decisions === undefined ? {} : { decisions: r.decisions }),
      warnings: events.filter((e) => e.code !== undefined),
    });
    return 0;
  },
};

/**
 * fetchPolicy loads `--policy P [--key K.pub]… [--vulndb DB]` for fetchRelease (shared by fetch and install);
 * closeScanner releases the vulnerability database.
 */
export async function fetchPolicy(
  ctx: CommandContext,
  values: { policy?: string | undefined; key?: string[] | undefined; vulndb?: string | undefined },
): Promise<{ policy: FetchReleaseOptions['policy']; closeScanner: () => void }> {
  if (values.policy === undefined) {
    if (values.key !== undefined || values.vulndb !== undefined) throw new UsageError('ERR_USAGE_ARGUMENT', '--key and --vulndb judge attestations and need --policy');
    return { policy: undefined, closeScanner: () => undefined };
  }
  const { loadPolicyFile, vulnScanner } = await import('./attestation.ts');
  const extraKeys: PublicKey[] = [];
  for (const k of values.key ?? []) extraKeys.push(await loadPublicKey(abs(ctx, k)));
  const p = await loadPolicyFile(ctx, values.policy);
  const scanner = await vulnScanner(ctx, p, values.vulndb);
  return { policy: { policy: p, extraKeys, scan: scanner?.scan }, closeScanner: scanner === undefined ? () => undefined : scanner.close };
}

export const publish: Command = {
  summary: 'upload artifacts to a running custody serve and release them (signed, logged, served)',
  usage: `usage: custody publish URL --token-file F --channel CH --arch ARCH FILE… [--version V] [--validity DAYS]

Hashes each FILE, uploads the ones the provider lacks (PUT /admin/v1/blobs/sha256/<hex>; the provider stores them
only if the bytes hash to that name), then asks it to release them (POST /admin/v1/releases/CH/ARCH): the provider
signs a new manifest, appends it to its transparency log and serves it. Artifact names follow Phase's rules
(vmlinuz* → kernel, initramfs*/initrd* → initramfs, rootfs* → rootfs, others keep their file name).

  --token-file F    the provider's admin token (DATA/admin.token of custody serve)
  --version V       release version (default: none given, the provider names the release by its sequence)
  --validity DAYS   manifest validity (default: the provider's, 30 days)

example:
  custody publish http://127.0.0.1:8080 --token-file custody-data/admin.token --channel stable --arch x86_64 \\
      build/vmlinuz build/initramfs.img`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      'token-file': { type: 'string' },
      channel: { type: 'string' },
      arch: { type: 'string' },
      version: { type: 'string' },
      validity: { type: 'string' },
    });
    if (positionals.length < 2) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected the provider URL and at least one FILE');
    const [base, ...files] = positionals as [string, ...string[]];
    const channel = requireOption(values.channel, 'channel');
    const arch = requireOption(values.arch, 'arch');
    const token = new TextDecoder().decode(await readTokenFile(ctx, requireOption(values['token-file'], 'token-file')));
    let validityS: number | undefined;
    if (values.validity !== undefined) {
      if (!/^[1-9][0-9]{0,2}$/.test(values.validity) || Number(values.validity) > 365) {
        throw new UsageError('ERR_USAGE_ARGUMENT', `--validity: expected 1 to 365 days, got ${JSON.stringify(values.validity)}`);
      }
      validityS = Number(values.validity) * 86_400;
    }
    const artifacts: Record<string, { filename: string; sha256: string }> = {};
    for (const f of files) {
      const path = abs(ctx, f);
      const { fh, size } = await openRegularFile(path);
      let sha: string;
      try {
        sha = (await hashOpenFile(fh, size, ['sha256'], path)).sha256;
      } finally {
        await fh.close();
      }
      const name = artifactNameFor(basename(path));
      if (artifacts[name] !== undefined) throw new UsageError('ERR_USAGE_ARGUMENT', `two files map to artifact name ${name}`);
      artifacts[name] = { filename: basename(path), sha256: sha };
      const created = await uploadBlob(base, token, { sha256: sha, size, path });
      ctx.print(`${created ? 'uploaded' : 'present '} ${basename(path)}  sha256:${sha}  ${size} bytes`);
    }
    const rel = await requestRelease(base, token, channel, arch, { artifacts, version: values.version, validityS });
    ctx.print(`released ${channel}/${arch} sequence ${rel.sequence} digest ${printable(rel.digest, 100)} log index ${rel.log_index}`);
    ctx.result({
      channel,
      arch,
      ...rel,
      artifacts,
    });
    return 0;
  },
};
