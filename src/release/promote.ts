/**
 * release/promote — the promotion gate (`custody promote`): an artifact set is published only when EVERY artifact
 * has the verified evidence the policy requires (policy/evaluate); otherwise nothing is published and the refusal
 * names the artifact and the rule.
 *
 * Promotion directory layout (flat; hidden files ignored; anything else — a sub-directory, a symlink, a device — is
 * ERR_PROMOTE_LAYOUT):
 * ```
 * DIR/vmlinuz                      artifacts: every regular file not ending in .intoto.jsonl
 * DIR/app-1.2.tar.gz
 * DIR/build.intoto.jsonl           attestations: DSSE envelopes, one per line, of in-toto statements whose
 * DIR/sbom.intoto.jsonl            subjects name the artifacts by SHA-256 (any file may speak for several)
 * ```
 * Order, so that what is published is exactly what was judged: each artifact is hashed once; every envelope is
 * verified (a bad one is a VerificationError: bad evidence refuses the whole set, it is not "missing"); each artifact
 * is judged; then
 * - to a provider (`--provider URL --token-file F`), each artifact is uploaded under the digest that was judged (the
 *   provider stores bytes only if they hash to that name) with the joined attestations as one more blob, and one
 *   release request publishes them together (client/publish, as `custody publish`);
 * - to an incoming directory (`--to INCOMING`), the set is copied into a hidden staging directory
 *   `INCOMING/<channel>/.<arch>.promote-….tmp` (each copy hashed again and compared), fsynced, and renamed to
 *   `INCOMING/<channel>/<arch>` in one step (an existing one is first moved aside, then removed): a scan of
 *   `custody serve` sees the old set or the new one, never a mix.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { EnvelopeKeys } from '../attest/dsse.ts';
import { sha256 } from '../crypto/index.ts';
import type { VerifiedAttestation } from '../attest/verify.ts';
import { requestRelease, uploadBlob, type PublishedRelease } from '../client/publish.ts';
import { printable } from '../encoding/text.ts';
import { FormatError, PolicyError, VerificationError, toIoError } from '../errors.ts';
import { openRegularFile, readFileBounded, syncDir, tempPath, writeFileAtomic } from '../io/files.ts';
import { hashOpenFile } from '../io/hash-file.ts';
import { artifactNameFor } from '../manifest/create.ts';
import { isSafeName } from '../manifest/manifest.ts';
import { evaluatePolicy, type Decision, type ScanSummary } from '../policy/evaluate.ts';
import { ATTESTATION_FILE_SUFFIX, verifyAttestationFile } from '../policy/evidence.ts';
import type { Policy } from '../policy/policy.ts';
import { DSSE_MAX_ENVELOPE_BYTES } from '../attest/dsse.ts';

/** PROMOTE_MAX_FILES caps the entries of a promotion directory. */
export const PROMOTE_MAX_FILES = 1000;
/** PROMOTE_ATTESTATIONS_MAX_BYTES caps the attestation files together (what a provider keeps per release). */
export const PROMOTE_ATTESTATIONS_MAX_BYTES = 16 * 1024 * 1024;
/** NAME_RULE is the provider's rule for channel and arch names (server/provider/releases CHANNEL_NAME). */
const NAME_RULE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** PromoteTarget: a running provider (admin API) or a provider's incoming directory. */
export type PromoteTarget = { provider: string; token: string } | { incomingDir: string };

/** PromoteOptions configures {@link promote}. */
export interface PromoteOptions {
  fromDir: string;
  channel: string;
  arch: string;
  policy: Policy;
  /** keys are the trusted attestation signers (attest `keysFromRoot` / `keysFromPublicKeys`). */
  keys: EnvelopeKeys;
  now: Date;
  target: PromoteTarget;
  version?: string | undefined;
  /** scan returns the vulnerability scan of an artifact's SBOM attestations (release/sbom-scan), for max_severity. */
  scan?: ((attestations: readonly VerifiedAttestation[], sha256: string) => ScanSummary | undefined) | undefined;
  /** onEvent reports progress lines (uploads) for the CLI. */
  onEvent?: ((line: string) => void) | undefined;
}

/** PromotedArtifact is one artifact of the set. */
export interface PromotedArtifact {
  name: string;
  filename: string;
  sha256: string;
  size: number;
}

/** PromoteResult says what was judged and where it went. */
export interface PromoteResult {
  artifacts: PromotedArtifact[];
  decisions: Decision[];
  attestations: number;
  /** release is the provider's answer (provider target), or the directory written (incoming target). */
  release: PublishedRelease | { incoming: string };
}

function layout(message: string): FormatError {
  return new FormatError('ERR_PROMOTE_LAYOUT', message);
}

/** readPromotionDir lists a promotion directory: artifacts (hashed) and attestation files (bytes). */
async function readPromotionDir(dir: string): Promise<{ artifacts: Array<PromotedArtifact & { path: string }>; attestationFiles: Array<{ name: string; bytes: Buffer }> }> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (e) {
    throw toIoError(e, dir, 'read');
  }
  if (entries.length > PROMOTE_MAX_FILES) throw layout(`${dir} has ${entries.length} entries, over the cap of ${PROMOTE_MAX_FILES}`);
  const artifacts: Array<PromotedArtifact & { path: string }> = [];
  const attestationFiles: Array<{ name: string; bytes: Buffer }> = [];
  const names = new Set<string>();
  let attBytes = 0;
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const path = join(dir, e.name);
    if (!e.isFile()) throw layout(`${printable(path)} is not a regular file (the promotion directory is flat: artifacts and *${ATTESTATION_FILE_SUFFIX})`);
    if (e.name.endsWith(ATTESTATION_FILE_SUFFIX)) {
      const bytes = await readFileBounded(path, { maxBytes: DSSE_MAX_ENVELOPE_BYTES * 4, what: 'attestation file' });
      attBytes += bytes.length + 1;
      if (attBytes > PROMOTE_ATTESTATIONS_MAX_BYTES) throw layout(`the *${ATTESTATION_FILE_SUFFIX} files are over ${PROMOTE_ATTESTATIONS_MAX_BYTES} bytes together`);
      attestationFiles.push({ name: e.name, bytes });
      continue;
    }
    if (!isSafeName(e.name) || e.name === 'manifest.json' || e.name === 'manifest.json.tlog-proof' || e.name === 'attestations') {
      throw layout(`${printable(JSON.stringify(e.name))} is not a usable artifact file name`);
    }
    const name = artifactNameFor(e.name);
    if (names.has(name)) throw layout(`two files map to the artifact name ${JSON.stringify(name)}; keep one`);
    names.add(name);
    const { fh, size } = await openRegularFile(path);
    try {
      const sha256 = (await hashOpenFile(fh, size, ['sha256'], path)).sha256;
      artifacts.push({ name, filename: e.name, sha256, size, path });
    } finally {
      await fh.close();
    }
  }
  if (artifacts.length === 0) throw layout(`${printable(dir)} holds no artifact to promote`);
  return { artifacts, attestationFiles };
}

/** joinAttestations concatenates .intoto.jsonl files, each ending in a newline: one file of envelopes. */
function joinAttestations(files: ReadonlyArray<{ bytes: Buffer }>): Buffer {
  return Buffer.concat(files.flatMap((f) => (f.bytes.at(-1) === 0x0a ? [f.bytes] : [f.bytes, Buffer.from('\n')])));
}

/**
 * promote judges every artifact of `fromDir` under the policy and publishes the set only if all pass. A refusal is
 * the PolicyError of the first refused artifact (its message names the artifact and the rule; details list every
 * artifact's decision); nothing is uploaded or written before every artifact passed.
 */
export async function promote(o: PromoteOptions): Promise<PromoteResult> {
  for (const [what, v] of [['channel', o.channel], ['arch', o.arch]] as const) {
    if (!NAME_RULE.test(v)) throw new FormatError('ERR_PROVIDER_CHANNEL_NAME', `expected a ${what} of 1–64 characters a-z 0-9 . _ - , got ${JSON.stringify(v.slice(0, 80))}`);
  }
  const { artifacts, attestationFiles } = await readPromotionDir(o.fromDir);
  const attestations: VerifiedAttestation[] = [];
  for (const f of attestationFiles) attestations.push(...verifyAttestationFile(f.bytes, o.keys, o.now, f.name));
  const decisions = artifacts.map((a) =>
    evaluatePolicy(o.policy, { artifact: { name: a.filename, sha256: a.sha256 }, attestations, scan: o.scan?.(attestations, a.sha256) }, o.now),
  );
  const refused = decisions.filter((d) => !d.accepted);
  if (refused.length > 0) {
    // The first refused artifact's first refusing rule is the error; details list every refused artifact.
    const first = refused[0]!;
    const rule = first.verdicts.find((v) => !v.ok)!;
    throw new PolicyError(rule.code!, `${printable(first.artifact.name, 200)}: policy rule "${rule.rule}" refused: ${rule.message}; nothing was promoted`, {
      details: {
        artifact: first.artifact,
        rule: rule.rule,
        refused: refused.map((d) => ({ artifact: d.artifact.name, rules: d.verdicts.filter((v) => !v.ok).map((v) => v.rule) })),
      },
    });
  }
  const joined = attestationFiles.length === 0 ? undefined : joinAttestations(attestationFiles);
  const out = artifacts.map(({ path: _path, ...a }) => a);
  let release: PromoteResult['release'];
  if ('provider' in o.target) {
    const { provider, token } = o.target;
    for (const a of artifacts) {
      const created = await uploadBlob(provider, token, { sha256: a.sha256, size: a.size, path: a.path });
      o.onEvent?.(`${created ? 'uploaded' : 'present '} ${a.filename}  sha256:${a.sha256}  ${a.size} bytes`);
    }
    let attestationsSha: string | undefined;
    if (joined !== undefined) {
      attestationsSha = Buffer.from(sha256(joined)).toString('hex');
      await uploadBlob(provider, token, { sha256: attestationsSha, size: joined.length, bytes: joined });
    }
    const arts: Record<string, { filename: string; sha256: string }> = {};
    for (const a of artifacts) arts[a.name] = { filename: a.filename, sha256: a.sha256 };
    release = await requestRelease(provider, token, o.channel, o.arch, { artifacts: arts, version: o.version, attestations: attestationsSha });
  } else {
    release = { incoming: await writeIncoming(o.target.incomingDir, o.channel, o.arch, artifacts, attestationFiles, o.version) };
  }
  return { artifacts: out, decisions, attestations: attestations.length, release };
}

/** writeIncoming replaces INCOMING/<channel>/<arch> with the judged set in one rename (see the module doc). */
async function writeIncoming(
  incomingDir: string,
  channel: string,
  arch: string,
  artifacts: ReadonlyArray<PromotedArtifact & { path: string }>,
  attestationFiles: ReadonlyArray<{ name: string; bytes: Buffer }>,
  version: string | undefined,
): Promise<string> {
  const chDir = join(incomingDir, channel);
  const target = join(chDir, arch);
  const staging = tempPath(chDir, `${arch}.promote`);
  try {
    await fsp.mkdir(chDir, { recursive: true, mode: 0o755 });
    await fsp.mkdir(staging, { mode: 0o755 });
  } catch (e) {
    throw toIoError(e, chDir, 'write');
  }
  let old: string | undefined;
  try {
    for (const a of artifacts) {
      const dest = join(staging, a.filename);
      try {
        await fsp.copyFile(a.path, dest, fsp.constants.COPYFILE_EXCL);
      } catch (e) {
        throw toIoError(e, dest, 'write');
      }
      // The copy must be the bytes that were judged (a source changed since is refused, not published).
      const { fh, size } = await openRegularFile(dest);
      try {
        const got = (await hashOpenFile(fh, size, ['sha256'], dest)).sha256;
        if (got !== a.sha256) throw new VerificationError('ERR_ARTIFACT_HASH_MISMATCH', `${a.filename} changed after it was judged; nothing was promoted`);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    // The verified bytes, not a re-read of the files.
    for (const f of attestationFiles) await writeFileAtomic(join(staging, f.name), f.bytes);
    if (version !== undefined) await writeFileAtomic(join(staging, '.version'), `${version}\n`);
    await syncDir(staging);
    try {
      await fsp.rename(staging, target);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      old = tempPath(chDir, `${arch}.old`);
      await fsp.rename(target, old);
      await fsp.rename(staging, target);
    }
    await syncDir(chDir);
  } catch (e) {
    await fsp.rm(staging, { recursive: true, force: true }).catch(() => undefined);
    throw toIoError(e, target, 'write');
  }
  if (old !== undefined) await fsp.rm(old, { recursive: true, force: true }).catch(() => undefined);
  return target;
}
