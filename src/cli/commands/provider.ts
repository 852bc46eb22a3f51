/**
 * cli/commands/provider — the provider's clients: `custody fetch` (download a release from untrusted providers and
 * verify everything) and `custody publish` (upload artifacts to a running `custody serve` and release them).
 */
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { fetchRelease } from '../../client/provider-client.ts';
import { parseJsonObject, type JsonObject } from '../../encoding/json.ts';
import { printable } from '../../encoding/text.ts';
import { IoError, UsageError, isTrustError } from '../../errors.ts';
import { openRegularFile, writeFileAtomic } from '../../io/files.ts';
import { hashOpenFile } from '../../io/hash-file.ts';
import { httpGet, readCapped } from '../../io/http-client.ts';
import { artifactNameFor } from '../../manifest/create.ts';
import { loadState, recordManifest, saveState } from '../../manifest/state.ts';
import { formatRoot, verifyPinnedRoot } from '../../trust/root.ts';
import { abs, readRootFile, readTokenFile } from '../common.ts';
import { intOption, parseCommandArgs, requireOption, type Command } from '../context.ts';

export const fetchCommand: Command = {
  summary: 'download a release from untrusted providers, verifying manifest, log proof and every artifact',
  usage: `usage: custody fetch URL [URL…] --channel CH --arch ARCH (--trust ROOT | --root-fingerprint sha256:HEX)
                     --output DIR [--state FILE] [--require-log VKEY] [--artifact NAME]…
                     [--timeout SECONDS] [--stall-timeout SECONDS]

Takes the manifest from the first provider whose manifest verifies (threshold of trust-root keys, not expired, the
channel/arch asked for, sequence not below --state), then downloads each artifact from the first provider whose
bytes match the signed size and SHA-256. Nothing unverified is left in DIR: downloads go to a temporary file and
are renamed only after the check. The verified manifest.json (and its .tlog-proof) are written to DIR too.

  --trust ROOT               pinned trust root; newer versions served at /trust/<N>.root.json are verified
                             (old and new root thresholds, TUF §5.3) and written back to ROOT
  --root-fingerprint FP      instead of ROOT: trust the provider's /trust/root.json only if it hashes to FP
                             (printed by custody serve)
  --state FILE               rollback protection: remembers the highest sequence per channel/arch
  --require-log VKEY         refuse a manifest without an inclusion proof under this log key
  --artifact NAME            fetch only this artifact (repeatable; default all)
  --timeout SECONDS          time allowed for the whole fetch (default 300)
  --stall-timeout SECONDS    a provider silent this long (before its headers or mid-body) is dropped for the
                             rest of the run (default 60); so is one giving a bad answer. Network errors and
                             5xx answers are retried twice; definitive answers (404, coded refusals) are not

HTTPS with a private CA: set NODE_EXTRA_CA_CERTS=ca.pem.

example:
  custody fetch http://10.0.0.5:8080 http://10.0.0.6:8080 --channel stable --arch x86_64 \\
      --trust root.json --state boot.state --require-log "$(cat log.vkey)" --output /boot/next`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      channel: { type: 'string' },
      arch: { type: 'string' },
      trust: { type: 'string' },
      'root-fingerprint': { type: 'string' },
      output: { type: 'string' },
      state: { type: 'string' },
      'require-log': { type: 'string' },
      artifact: { type: 'string', multiple: true },
      timeout: { type: 'string' },
      'stall-timeout': { type: 'string' },
    });
    const totalS = intOption(values.timeout, 'timeout', 1, 86_400);
    const stallS = intOption(values['stall-timeout'], 'stall-timeout', 1, 3_600);
    if (positionals.length === 0) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected at least one provider URL');
    if ((values.trust === undefined) === (values['root-fingerprint'] === undefined)) {
      throw new UsageError('ERR_USAGE_ARGUMENT', 'pass exactly one of --trust ROOT and --root-fingerprint sha256:HEX');
    }
    const channel = requireOption(values.channel, 'channel');
    const arch = requireOption(values.arch, 'arch');
    const output = abs(ctx, requireOption(values.output, 'output'));
    // An expired pinned root may still vouch for its successors (TUF §5.3); the root finally used must be current.
    const pinned = values.trust === undefined ? undefined : verifyPinnedRoot(await readRootFile(ctx, values.trust), { now: ctx.now(), allowExpired: true });
    const statePath = values.state === undefined ? undefined : abs(ctx, values.state);
    const state = statePath === undefined ? undefined : await loadState(statePath);
    const events: Array<{ provider: string; what: string; code?: string; message?: string }> = [];
    const r = await fetchRelease({
      providers: positionals,
      channel,
      arch,
      trust: pinned !== undefined ? { root: pinned } : { fingerprint: values['root-fingerprint']! },
      state,
      requireLog: values['require-log'],
      outputDir: output,
      artifacts: values.artifact,
      now: ctx.now,
      ...(totalS === undefined ? {} : { totalTimeoutMs: totalS * 1000 }),
      ...(stallS === undefined ? {} : { timeoutMs: stallS * 1000 }),
      onEvent: (e) => {
        events.push(e);
        if (e.code !== undefined) ctx.stderr(`custody: warning: ${printable(e.provider, 200)}: ${e.what}: ${printable(e.message ?? '')} [${e.code}]\n`);
      },
    });
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
      warnings: events.filter((e) => e.code !== undefined),
    });
    return 0;
  },
};

/** ADMIN_ANSWER_MAX_BYTES caps an admin answer (a release answer carries the manifest and its proof). */
const ADMIN_ANSWER_MAX_BYTES = 4 * 1024 * 1024;

function adminUrl(base: string, path: string): string {
  let u: URL;
  try {
    u = new URL(base.endsWith('/') ? base : base + '/');
  } catch (e) {
    throw new UsageError('ERR_USAGE_ARGUMENT', `expected a provider URL, got ${JSON.stringify(base)}`, { cause: e });
  }
  return new URL(path, u).href;
}

/** ADMIN_STALL_MS: an admin call silent this long is abandoned (a release signs, logs and waits for witnesses). */
const ADMIN_STALL_MS = 120_000;
/** ADMIN_DEADLINE_MS bounds one admin call, upload included. */
const ADMIN_DEADLINE_MS = 3_600_000;

/**
 * adminCall sends one admin request and returns the provider's JSON answer, read with a cap and the strict parser.
 * A refusal is ERR_PROVIDER_RESPONSE naming the server's code (details.serverCode); its texts are escaped.
 */
async function adminCall(url: string, o: { method: 'PUT' | 'POST'; headers: Record<string, string>; body: Uint8Array | Readable }): Promise<JsonObject> {
  const u = new URL(url);
  const a = await httpGet(u, { ...o, stallMs: ADMIN_STALL_MS, deadline: Date.now() + ADMIN_DEADLINE_MS });
  const body = await readCapped(a, ADMIN_ANSWER_MAX_BYTES, u, 'provider answer');
  let j: JsonObject;
  try {
    j = parseJsonObject(body, { maxBytes: ADMIN_ANSWER_MAX_BYTES, what: 'provider answer' });
  } catch (e) {
    throw new IoError('ERR_PROVIDER_RESPONSE', `${url}: HTTP ${a.status}, not a JSON object${isTrustError(e) ? ` (${e.message})` : ''}`, { cause: e });
  }
  if (a.status < 200 || a.status > 299) {
    const code = typeof j.code === 'string' && /^ERR_[A-Z0-9_]{1,60}$/.test(j.code) ? j.code : 'ERR_PROVIDER_RESPONSE';
    // The server's hint is its text, not ours: it goes to details (escaped), never to `custody: hint:`.
    throw new IoError('ERR_PROVIDER_RESPONSE', `${url}: HTTP ${a.status} ${code}: ${typeof j.message === 'string' ? printable(j.message) : ''}`, {
      details: { status: a.status, serverCode: code, ...(typeof j.hint === 'string' ? { serverHint: printable(j.hint) } : {}) },
    });
  }
  return j;
}

/** blobPresent asks the provider (HEAD /blobs/sha256/<hex>) whether it stores a blob already, so it is not sent twice. */
async function blobPresent(base: string, sha: string): Promise<boolean> {
  const u = new URL(adminUrl(base, `blobs/sha256/${sha}`));
  const a = await httpGet(u, { method: 'HEAD', stallMs: ADMIN_STALL_MS, deadline: Date.now() + ADMIN_STALL_MS });
  a.close();
  return a.status === 200;
}

/** field takes a value of the expected type from a provider answer, or refuses the answer. */
function field<T extends 'string' | 'number' | 'boolean'>(j: JsonObject, name: string, type: T, url: string): T extends 'string' ? string : T extends 'number' ? number : boolean {
  const v = j[name];
  if (typeof v !== type || (type === 'number' && !Number.isSafeInteger(v))) {
    throw new IoError('ERR_PROVIDER_RESPONSE', `${url}: expected "${name}" (${type}) in the provider answer`);
  }
  return v as never;
}

export const publish: Command = {
  summary: 'upload artifacts to a running custody serve and release them (signed, logged, served)',
  usage: `usage: custody publish URL --token-file F --channel CH --arch ARCH FILE… [--version V] [--validity DAYS]

Hashes each FILE, uploads the ones the provider lacks (PUT /admin/v1/blobs/sha256/<hex>; the provider stores them
only if the bytes hash to that name), then asks it to release them (POST /admin/v1/releases/CH/ARCH): the provider
signs a new manifest, appends it to its transparency log and serves it. Artifact names follow Phase's rules
(vmlinuz* → kernel, initramfs*/initrd* → initramfs, rootfs* → rootfs, others keep their file name).

  --token-file F    the provider's admin token (DATA/admin.token of custody serve)
  --version V       release version (default: the previous release's)
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
    const auth = { authorization: `Bearer ${token}` };
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
      // Ask first: a blob the provider stores already is not sent again (the daemon would answer before reading it).
      let created = false;
      if (!(await blobPresent(base, sha))) {
        const url = adminUrl(base, `admin/v1/blobs/sha256/${sha}`);
        const r = await adminCall(url, {
          method: 'PUT',
          headers: { ...auth, 'content-type': 'application/octet-stream', 'content-length': String(size) },
          body: createReadStream(path),
        });
        created = field(r, 'created', 'boolean', url);
      }
      ctx.print(`${created ? 'uploaded' : 'present '} ${basename(path)}  sha256:${sha}  ${size} bytes`);
    }
    const relUrl = adminUrl(base, `admin/v1/releases/${encodeURIComponent(channel)}/${encodeURIComponent(arch)}`);
    const r = await adminCall(relUrl, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: new TextEncoder().encode(
        JSON.stringify({ artifacts, ...(values.version === undefined ? {} : { version: values.version }), ...(validityS === undefined ? {} : { validity_s: validityS }) }),
      ),
    });
    const rel = {
      sequence: field(r, 'sequence', 'number', relUrl),
      digest: field(r, 'digest', 'string', relUrl),
      log_index: field(r, 'log_index', 'number', relUrl),
      manifest_url: field(r, 'manifest_url', 'string', relUrl),
    };
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
