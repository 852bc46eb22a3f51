/**
 * client/provider-client — fetching a release from untrusted providers (`custody fetch`): the boot client of
 * Phase's security guide (the network-boot provider github.com/msitarzewski/phase), which trusts nothing it has not
 * verified.
 *
 * Trust comes only from the caller: a pinned trust root (walked forward through `/trust/<N+1>.root.json` as TUF
 * §5.3 does, each step signed by the old and the new root), or the SHA-256 fingerprint of the provider's
 * `/trust/root.json`. Providers (one or more URLs: mirrors, DHT results) supply bytes only:
 *  1. every provider's manifest is checked (threshold of trusted keys, expiry, channel/arch as asked, sequence not
 *     below the caller's state; with `requireLog` its tlog-proof must verify under the log key too) and the verified
 *     one with the highest sequence is used, so a stale mirror cannot freeze the client;
 *  2. each artifact is downloaded from its signed `download_url` (resolved against the provider) or the provider's
 *     `/blobs/sha256/<hex>`, trying providers in order; the download goes to DIR/.custody-fetch/ (the previous
 *     manifest.json is removed first), stops as soon as it exceeds the signed size, is hashed as it streams, and is
 *     renamed into place only when size and SHA-256 match (constant-time compare) and the file on disk has that size;
 *  3. the verified manifest bytes — and the proof, when it was verified — are written beside the artifacts.
 * Every response body is read with a cap (manifest 1 MiB, root 1 MiB, proof ~1.2 MiB, artifact its signed size);
 * a provider silent for `timeoutMs` (headers, or between two body chunks) is dropped; redirects are refused.
 */
import { constants, promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { constantTimeEqual, createMultiHasher } from '../crypto/index.ts';
import { decodeHex } from '../encoding/bytes.ts';
import { FormatError, IoError, PolicyError, TrustError, VerificationError, isTrustError, toIoError, type ErrorCode } from '../errors.ts';
import { syncDir, writeFileAtomic, writeFully } from '../io/files.ts';
import { networkReason, readBodyCapped } from '../io/http-body.ts';
import { MANIFEST_PROOF_SUFFIX, verifyManifestInclusion } from '../manifest/log.ts';
import { MANIFEST_MAX_BYTES, parseManifest } from '../manifest/manifest.ts';
import { stateKey, type VerifierState } from '../manifest/state.ts';
import { verifyManifest, type VerifiedManifest } from '../manifest/verify.ts';
import { MAX_PROOF_FILE_BYTES } from '../note/proof.ts';
import { ROOT_MAX_BYTES, parseRoot, rootFingerprint, updateRoot, verifyPinnedRoot, type TrustRoot } from '../trust/root.ts';

/** MAX_ROOT_STEPS bounds how many root versions one fetch walks forward (TUF clients bound it similarly). */
export const MAX_ROOT_STEPS = 1024;
/** MAX_PROVIDERS bounds how many URLs one fetch tries. */
export const MAX_PROVIDERS = 16;

/** FetchReleaseOptions configures {@link fetchRelease}. */
export interface FetchReleaseOptions {
  /** providers are base URLs (http/https), tried in order. */
  providers: readonly string[];
  channel: string;
  arch: string;
  /** trust is a pinned root (chain-walked) or the fingerprint `sha256:<hex>` of the provider's root.json. */
  trust: { root: TrustRoot } | { fingerprint: string };
  /** state gives the last seen sequence per channel/arch (rollback protection); it is NOT saved here. */
  state?: VerifierState | undefined;
  /** requireLog is a log verifier key: the manifest must come with a valid inclusion proof under it. */
  requireLog?: string | undefined;
  /** outputDir receives the artifacts, manifest.json and manifest.json.tlog-proof (if any). */
  outputDir: string;
  /** artifacts limits the download to these artifact names (default: all). */
  artifacts?: readonly string[] | undefined;
  now: () => Date;
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** onEvent is told what happens (which provider failed and why) for the CLI's report. */
  onEvent?: (e: { provider: string; what: string; code?: string; message?: string }) => void;
}

/** FetchedRelease is the result of a successful fetch. */
export interface FetchedRelease {
  manifest: VerifiedManifest;
  /** root is the trust root used (possibly newer than the one pinned). */
  root: TrustRoot;
  rootUpdated: boolean;
  logIndex: number | undefined;
  manifestProvider: string;
  files: Array<{ name: string; filename: string; size: number; provider: string }>;
}

function baseUrl(u: string): URL {
  let url: URL;
  try {
    url = new URL(u.endsWith('/') ? u : u + '/');
  } catch (e) {
    throw new FormatError('ERR_FORMAT_SCHEMA', `expected a provider URL such as http://host:8080, got ${JSON.stringify(u.slice(0, 200))}`, { cause: e });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FormatError('ERR_FORMAT_SCHEMA', `expected an http or https URL, got ${url.protocol}`);
  return url;
}

/** SERVER_CODES are the codes a (untrusted) provider may pass on to the user: they describe the answer only. */
const SERVER_CODES: ReadonlySet<string> = new Set(['ERR_PROVIDER_NOT_FOUND', 'ERR_PROVIDER_RATE_LIMITED', 'ERR_PROVIDER_RANGE', 'ERR_PROVIDER_UNAUTHORIZED']);

/** printable keeps a server-supplied text short and free of control characters (no terminal escapes). */
export function printable(s: string, max = 300): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '?').slice(0, max);
}

/** providerError keeps a provider's code when it is one of SERVER_CODES, or says the HTTP status. */
function providerError(url: string, status: number, body: Uint8Array): TrustError {
  try {
    const j = JSON.parse(new TextDecoder().decode(body.subarray(0, 4096))) as { code?: unknown; message?: unknown };
    if (typeof j.code === 'string' && SERVER_CODES.has(j.code)) {
      return new TrustError(j.code as ErrorCode, `${url}: ${typeof j.message === 'string' ? printable(j.message) : j.code}`);
    }
  } catch {
    /* not our JSON */
  }
  if (status === 404) return new IoError('ERR_PROVIDER_NOT_FOUND', `${url}: not found`);
  return new IoError('ERR_PROVIDER_RESPONSE', `${url}: HTTP ${status}`);
}

/**
 * Http fetches with two clocks: `timeoutMs` until the response headers arrive, then the same span of silence while
 * the body streams (reset by every chunk through `touch`), so a large artifact on a slow but live link completes
 * while a stalled provider is dropped.
 */
class Http {
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  constructor(f: typeof fetch, timeoutMs: number) {
    this.#fetch = f;
    this.#timeoutMs = timeoutMs;
  }

  async open(url: string): Promise<{ res: Response; touch: () => void; done: () => void }> {
    const ctl = new AbortController();
    let timer = setTimeout(() => ctl.abort(new Error(`no answer for ${this.#timeoutMs} ms`)), this.#timeoutMs);
    const touch = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => ctl.abort(new Error(`stalled for ${this.#timeoutMs} ms`)), this.#timeoutMs);
    };
    const done = (): void => clearTimeout(timer);
    try {
      const res = await this.#fetch(url, { signal: ctl.signal, redirect: 'error' });
      touch();
      return { res, touch, done };
    } catch (e) {
      done();
      throw new IoError('ERR_IO_NETWORK', `cannot fetch ${url}: ${networkReason(e)}`, { cause: e });
    }
  }

  /** get returns the body of a 200 answer (bounded), undefined for 404, or throws. */
  async get(url: string, maxBytes: number, what: string): Promise<Uint8Array | undefined> {
    const { res, touch, done } = await this.open(url);
    try {
      const body = await readBodyCapped(res, res.ok ? maxBytes : 64 * 1024, url, what, touch);
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw providerError(url, res.status, body);
      return body;
    } finally {
      done();
    }
  }
}


/** bootstrapRoot trusts the provider's root.json only if its bytes hash to the pinned fingerprint. */
async function bootstrapRoot(http: Http, providers: URL[], fingerprint: string, now: Date, event: FetchReleaseOptions['onEvent']): Promise<TrustRoot> {
  if (!/^sha256:[0-9a-f]{64}$/.test(fingerprint)) {
    throw new FormatError('ERR_FORMAT_HEX', `expected a trust fingerprint sha256:<64 hex>, got ${JSON.stringify(fingerprint.slice(0, 80))}`);
  }
  let last: TrustError | undefined;
  for (const p of providers) {
    const url = new URL('trust/root.json', p).href;
    try {
      const bytes = await http.get(url, ROOT_MAX_BYTES, 'trust root');
      if (bytes === undefined) throw new IoError('ERR_PROVIDER_NOT_FOUND', `${url}: not found`);
      const got = decodeHex(rootFingerprint(bytes).slice(7));
      if (!constantTimeEqual(got, decodeHex(fingerprint.slice(7)))) {
        throw new VerificationError('ERR_PROVIDER_ROOT_FINGERPRINT', `${url} hashes to ${rootFingerprint(bytes)}, not the pinned ${fingerprint}`);
      }
      return verifyPinnedRoot(parseRoot(bytes), { now });
    } catch (e) {
      if (!isTrustError(e)) throw e;
      event?.({ provider: p.href, what: 'trust root refused', code: e.code, message: e.message });
      last = e;
    }
  }
  throw last ?? new IoError('ERR_PROVIDER_NOT_FOUND', 'no provider to fetch the trust root from');
}

/** walkRootChain moves a pinned root forward through /trust/<N+1>.root.json (TUF §5.3) on the first provider that has them. */
async function walkRootChain(http: Http, providers: URL[], pinned: TrustRoot, now: Date, event: FetchReleaseOptions['onEvent']): Promise<TrustRoot> {
  let best = pinned;
  for (const p of providers) {
    let cur = pinned;
    try {
      for (let i = 0; i < MAX_ROOT_STEPS; i++) {
        const url = new URL(`trust/${cur.version + 1}.root.json`, p).href;
        const bytes = await http.get(url, ROOT_MAX_BYTES, 'trust root');
        if (bytes === undefined) break;
        cur = updateRoot(cur, parseRoot(bytes), now);
      }
    } catch (e) {
      if (!isTrustError(e)) throw e;
      // A provider serving a bad next root is ignored: what it could not prove changes nothing.
      event?.({ provider: p.href, what: 'root update refused', code: e.code, message: e.message });
    }
    if (cur.version > best.version) best = cur;
  }
  // TUF §5.3.10: the final root must be unexpired (verifyPinnedRoot checks expiry against now), the pinned one
  // included when nothing newer was found: an expired pinned root may only vouch for its successors.
  return verifyPinnedRoot(best, { now });
}

/** fetchRelease downloads and verifies one channel/arch release. */
export async function fetchRelease(o: FetchReleaseOptions): Promise<FetchedRelease> {
  if (o.providers.length === 0 || o.providers.length > MAX_PROVIDERS) {
    throw new FormatError('ERR_FORMAT_SCHEMA', `expected 1 to ${MAX_PROVIDERS} provider URLs, got ${o.providers.length}`);
  }
  const providers = o.providers.map(baseUrl);
  const http = new Http(o.fetch ?? fetch, o.timeoutMs ?? 60_000);
  const event = o.onEvent;
  const now = o.now();

  let root: TrustRoot;
  let rootUpdated = false;
  if ('root' in o.trust) {
    root = await walkRootChain(http, providers, o.trust.root, now, event);
    rootUpdated = root.version > o.trust.root.version;
  } else {
    root = await bootstrapRoot(http, providers, o.trust.fingerprint, now, event);
  }

  // 1. The manifest: every provider is asked, and the verified manifest with the highest sequence wins (ties: the
  // first provider). A stale mirror cannot freeze a client on an old release while another serves a newer one.
  const seen = o.state?.manifests.get(stateKey(o.channel, o.arch));
  let chosen: { vm: VerifiedManifest; text: Uint8Array; proof: Uint8Array | undefined; provider: URL; logIndex: number | undefined } | undefined;
  let lastError: TrustError | undefined;
  for (const p of providers) {
    const url = new URL(`${encodeURIComponent(o.channel)}/${encodeURIComponent(o.arch)}/manifest.json`, p).href;
    try {
      const text = await http.get(url, MANIFEST_MAX_BYTES, 'manifest');
      if (text === undefined) throw new IoError('ERR_PROVIDER_NOT_FOUND', `${url}: no release of ${o.channel}/${o.arch}`);
      const vm = verifyManifest(parseManifest(text), root, { now, lastSeenSequence: seen?.sequence, lastSeenDigest: seen?.digest });
      // A provider may not answer one channel's question with another's (validly signed) manifest.
      if (vm.manifest.channel !== o.channel || vm.manifest.arch !== o.arch) {
        throw new PolicyError('ERR_MANIFEST_WRONG_TARGET', `${url} served the manifest of ${vm.manifest.channel}/${vm.manifest.arch}`);
      }
      let proof: Uint8Array | undefined;
      let logIndex: number | undefined;
      if (o.requireLog !== undefined) {
        proof = await http.get(url + MANIFEST_PROOF_SUFFIX, MAX_PROOF_FILE_BYTES, 'tlog-proof');
        logIndex = verifyManifestInclusion(vm, proof, o.requireLog).index;
      }
      event?.({ provider: p.href, what: `manifest verified: sequence ${vm.manifest.sequence}` });
      if (chosen === undefined || vm.manifest.sequence > chosen.vm.manifest.sequence) chosen = { vm, text, proof, provider: p, logIndex };
    } catch (e) {
      if (!isTrustError(e)) throw e;
      event?.({ provider: p.href, what: 'manifest refused', code: e.code, message: e.message });
      lastError = e;
    }
  }
  if (chosen === undefined) throw lastError!;
  const vm = chosen.vm;

  // 2. The artifacts, each from the first provider that delivers the signed bytes.
  const wanted = o.artifacts ?? [...vm.manifest.artifacts.keys()];
  for (const name of wanted) {
    if (!vm.manifest.artifacts.has(name)) {
      throw new VerificationError('ERR_ARTIFACT_NOT_IN_MANIFEST', `${name} is not an artifact of ${o.channel}/${o.arch}`, {
        details: { artifacts: [...vm.manifest.artifacts.keys()] },
      });
    }
  }
  for (const name of wanted) {
    const filename = vm.manifest.artifacts.get(name)!.filename;
    if (filename === 'manifest.json' || filename === 'manifest.json' + MANIFEST_PROOF_SUFFIX) {
      throw new FormatError('ERR_MANIFEST_ARTIFACT_NAME', `artifact ${name} is named ${filename}, which the manifest itself uses`);
    }
  }
  await fsp.mkdir(o.outputDir, { recursive: true, mode: 0o755 }).catch((e: unknown) => {
    throw toIoError(e, o.outputDir, 'write');
  });
  // Nothing in DIR may look verified while this fetch is incomplete: the previous manifest goes first, downloads
  // land in a staging directory (left over from an interrupted run: removed) and are renamed only when verified.
  const staging = join(o.outputDir, STAGING_DIR);
  try {
    for (const f of ['manifest.json', 'manifest.json' + MANIFEST_PROOF_SUFFIX]) await fsp.rm(join(o.outputDir, f), { force: true });
    await fsp.rm(staging, { recursive: true, force: true });
    await fsp.mkdir(staging, { mode: 0o700 });
  } catch (e) {
    throw toIoError(e, o.outputDir, 'write');
  }
  const files: FetchedRelease['files'] = [];
  try {
    for (const name of wanted) {
      const a = vm.manifest.artifacts.get(name)!;
      const m = /^sha256:([0-9a-f]{64})$/.exec(a.hash);
      if (!m) throw new VerificationError('ERR_MANIFEST_NO_SUPPORTED_HASH', `artifact ${name}: the provider protocol needs a sha256 hash`);
      const sha = m[1]!;
      let done = false;
      let err: TrustError | undefined;
      for (const p of [chosen.provider, ...providers.filter((x) => x !== chosen.provider)]) {
        const candidates = [...new Set([...(a.download_url === undefined ? [] : [a.download_url]), `blobs/sha256/${sha}`])];
        for (const c of candidates) {
          let url: string;
          try {
            url = new URL(c.replace(/^\//, ''), p).href;
          } catch {
            continue;
          }
          try {
            await download(http, url, join(staging, `${files.length}.part`), join(o.outputDir, a.filename), a.size_bytes, sha);
            files.push({ name, filename: a.filename, size: a.size_bytes, provider: p.href });
            done = true;
            break;
          } catch (e) {
            if (!isTrustError(e)) throw e;
            // Our own disk failing is not the provider's fault: trying the next one would not help.
            if (e.code === 'ERR_IO_WRITE_FAILED' || e.code === 'ERR_IO_EXISTS') throw e;
            event?.({ provider: p.href, what: `artifact ${name} refused`, code: e.code, message: e.message });
            err = e;
          }
        }
        if (done) break;
      }
      if (!done) throw err!;
    }
  } finally {
    await fsp.rm(staging, { recursive: true, force: true }).catch(() => undefined);
  }

  // 3. The verified manifest (the exact bytes verified) and, when it was verified, its proof beside the artifacts.
  await writeFileAtomic(join(o.outputDir, 'manifest.json'), chosen.text);
  if (chosen.proof !== undefined) await writeFileAtomic(join(o.outputDir, 'manifest.json' + MANIFEST_PROOF_SUFFIX), chosen.proof);
  return { manifest: vm, root, rootUpdated, logIndex: chosen.logIndex, manifestProvider: chosen.provider.href, files };
}

/** STAGING_DIR holds downloads until they are verified (inside DIR, so the final rename stays on one file system). */
export const STAGING_DIR = '.custody-fetch';

/** download streams url into `tmp`, refusing more than `size` bytes or another SHA-256, then renames it to dest. */
async function download(http: Http, url: string, tmp: string, dest: string, size: number, sha256Hex: string): Promise<void> {
  const { res, touch, done } = await http.open(url);
  try {
    if (res.status !== 200) {
      const body = await readBodyCapped(res, 64 * 1024, url, 'error body').catch(() => new Uint8Array());
      throw providerError(url, res.status, body);
    }
    const declared = res.headers.get('content-length');
    if (declared !== null && Number(declared) !== size) {
      await res.body?.cancel().catch(() => undefined);
      throw new VerificationError('ERR_ARTIFACT_SIZE_MISMATCH', `${url}: expected ${size} bytes, the provider announces ${printable(declared, 40)}`);
    }
    const hasher = await createMultiHasher(['sha256']);
    let fh: fsp.FileHandle | undefined;
    let n = 0;
    try {
      try {
        fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
      } catch (e) {
        throw toIoError(e, tmp, 'write');
      }
      try {
        for await (const c of (res.body ?? []) as AsyncIterable<Uint8Array>) {
          touch();
          n += c.length;
          // Stop at the first byte beyond the signed size: an endless answer costs nothing.
          if (n > size) throw new VerificationError('ERR_ARTIFACT_SIZE_MISMATCH', `${url}: more than the signed ${size} bytes`);
          hasher.update(c);
          try {
            await writeFully(fh, c);
          } catch (e) {
            throw toIoError(e, tmp, 'write');
          }
        }
      } catch (e) {
        if (isTrustError(e)) throw e;
        throw new IoError('ERR_IO_NETWORK', `${url}: ${networkReason(e)}`, { cause: e });
      }
      if (n !== size) throw new VerificationError('ERR_ARTIFACT_SIZE_MISMATCH', `${url}: expected ${size} bytes, got ${n}`);
      const got = hasher.digest().sha256;
      if (!constantTimeEqual(decodeHex(got), decodeHex(sha256Hex))) {
        throw new VerificationError('ERR_ARTIFACT_HASH_MISMATCH', `${url}: sha256 does not match the signed manifest`, {
          details: { expected: sha256Hex, got },
        });
      }
      try {
        await fh.sync();
        // What is on disk must be what was hashed (a short write would show here).
        if ((await fh.stat()).size !== size) throw new IoError('ERR_IO_WRITE_FAILED', `${tmp}: the file is shorter than what was written`);
        await fh.close();
        fh = undefined;
        await fsp.rename(tmp, dest);
        await syncDir(dirname(dest));
      } catch (e) {
        throw toIoError(e, dest, 'write');
      }
    } finally {
      await fh?.close().catch(() => undefined);
      await fsp.unlink(tmp).catch(() => undefined);
    }
  } finally {
    done();
  }
}
