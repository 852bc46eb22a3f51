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
 * With `policy`, between 1 and 2: the release's attestations (`/<channel>/<arch>/attestations` of the provider whose
 * manifest was chosen) are downloaded, every envelope verified (keys: the root's targets role unless given), and
 * each wanted artifact — by the name and SHA-256 the verified manifest signs — judged under the policy
 * (policy/evaluate). A refusal ends the fetch before anything in DIR is touched: no artifact is downloaded.
 * Every response body is read with a cap (manifest 1 MiB, root 1 MiB, proof ~1.2 MiB, artifact its signed size);
 * redirects are refused. A provider silent for `timeoutMs` (headers, or between two body chunks), slower than
 * `minBytesPerSecond` over such a window (a byte now and then keeps a connection from ever being silent), or giving
 * a bad answer, is dropped for the rest of the run; network failures and 5xx are retried, definitive answers (404, coded
 * refusals) are not; `totalTimeoutMs` bounds the whole fetch. Requests go through io/http-client (node:http), whose
 * timers always fire.
 */
import { constants, promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import type { EnvelopeKeys } from '../attest/dsse.ts';
import { keysFromRoot, type VerifiedAttestation } from '../attest/verify.ts';
import { constantTimeEqual, createMultiHasher, type PublicKey } from '../crypto/index.ts';
import { tufKeyId } from '../keys/key-id.ts';
import { decodeHex } from '../encoding/bytes.ts';
import { isJsonObject, parseJson, type JsonValue } from '../encoding/json.ts';
import { printable } from '../encoding/text.ts';
import { FormatError, IoError, PolicyError, VerificationError, errorFromCode, isErrorCode, isTrustError, toIoError, type TrustError } from '../errors.ts';
import { syncDir, writeFileAtomic, writevFully } from '../io/files.ts';
import { bodyError, httpGet, readCapped, type HttpAnswer } from '../io/http-client.ts';
import { httpDownload } from '../io/http-download.ts';
import { MANIFEST_PROOF_SUFFIX, verifyManifestInclusion } from '../manifest/log.ts';
import { MANIFEST_MAX_BYTES, parseManifest } from '../manifest/manifest.ts';
import { stateKey, type VerifierState } from '../manifest/state.ts';
import { verifyManifest, type VerifiedManifest } from '../manifest/verify.ts';
import { MAX_PROOF_FILE_BYTES } from '../note/proof.ts';
import { assertAccepted, evaluatePolicy, type Decision, type ScanSummary } from '../policy/evaluate.ts';
import { verifyAttestationFile } from '../policy/evidence.ts';
import type { Policy } from '../policy/policy.ts';
import { ROOT_MAX_BYTES, parseRoot, rootFingerprint, updateRoot, verifyPinnedRoot, type TrustRoot } from '../trust/root.ts';

/** ATTESTATIONS_FETCH_MAX_BYTES caps a release's attestations (the provider's own cap). */
export const ATTESTATIONS_FETCH_MAX_BYTES = 16 * 1024 * 1024;
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
  /** timeoutMs is the stall timeout: a provider silent this long (before the headers or mid-body) is dropped (default 60 s). */
  timeoutMs?: number;
  /** totalTimeoutMs bounds the whole fetch: roots, manifests, proofs and every artifact (default 5 minutes). */
  totalTimeoutMs?: number;
  /**
   * minBytesPerSecond: a provider moving fewer bytes than this per second, averaged over each `timeoutMs` window, is
   * dropped like a silent one and the next is asked (default {@link DEFAULT_MIN_BYTES_PER_SECOND}; 0 = no floor).
   */
  minBytesPerSecond?: number;
  /** policy: judge the release's attestations before keeping any artifact (see the module doc). */
  policy?:
    | {
        policy: Policy;
        keys?: EnvelopeKeys | undefined;
        extraKeys?: readonly PublicKey[] | undefined;
        /** scan returns the vulnerability scan of an artifact's SBOM attestations (release/sbom-scan), for max_severity. */
        scan?: ((attestations: readonly VerifiedAttestation[], sha256: string) => ScanSummary | undefined) | undefined;
      }
    | undefined;
  /** onEvent is told what happens (which provider failed and why) for the CLI's report. */
  onEvent?: (e: { provider: string; what: string; code?: string; message?: string }) => void;
  /**
   * onManifest sees the chosen manifest once it is verified (and its proof, with `requireLog`), before anything
   * else is asked for or DIR is touched; answering false ends the fetch there (`skipped` in the result, no files):
   * `custody install` uses it to skip a release it already holds.
   */
  onManifest?: (vm: VerifiedManifest) => boolean | Promise<boolean>;
  /** onProgress is told how far each artifact download got (after every received chunk; once with done at the end). */
  onProgress?: ((p: DownloadProgress) => void) | undefined;
}

/** DownloadProgress is one artifact download's progress: bytes received of its signed size. */
export interface DownloadProgress {
  name: string;
  filename: string;
  provider: string;
  received: number;
  total: number;
  /** done is set once, when the bytes verified and were renamed into place (false: this attempt failed). */
  done?: boolean;
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
  /** requests counts the HTTP requests sent (retries included). */
  requests: number;
  /** decisions are the policy's decisions, one per artifact fetched (with `policy`). */
  decisions?: Decision[];
  /** skipped is true when onManifest answered false: nothing was downloaded, DIR was not touched. */
  skipped?: boolean;
  /** manifestBytes and proofBytes are exactly what was verified (proofBytes with `requireLog`). */
  manifestBytes: Uint8Array;
  proofBytes: Uint8Array | undefined;
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

export { printable };

/** ERROR_BODY_MAX_BYTES caps the body of a refusal (its JSON names a code and a message). */
const ERROR_BODY_MAX_BYTES = 64 * 1024;

/**
 * providerError keeps a provider's code when it is one of SERVER_CODES (as the class of that code), or says the HTTP
 * status. The body goes through the strict parser; anything else is simply not a coded refusal.
 */
export function providerError(url: string, status: number, body: Uint8Array): TrustError {
  let j: JsonValue | undefined;
  try {
    j = parseJson(body, { maxBytes: ERROR_BODY_MAX_BYTES, maxDepth: 8, what: 'error answer' });
  } catch {
    /* not our JSON */
  }
  if (isJsonObject(j) && typeof j.code === 'string' && SERVER_CODES.has(j.code) && isErrorCode(j.code)) {
    return errorFromCode(j.code, `${url}: ${typeof j.message === 'string' ? printable(j.message) : j.code}`, { details: { status } });
  }
  if (status === 404) return new IoError('ERR_PROVIDER_NOT_FOUND', `${url}: not found`);
  if (status >= 300 && status < 400) return new IoError('ERR_PROVIDER_RESPONSE', `${url}: HTTP ${status}: redirects are refused`, { details: { status } });
  return new IoError('ERR_PROVIDER_RESPONSE', `${url}: HTTP ${status}`, { details: { status } });
}

/** RETRIES is how often a network failure (not a timeout) or a 5xx answer is retried against the same provider. */
export const RETRIES = 2;
/** RETRY_BACKOFF_MS is the first pause before a retry (doubled each time). */
const RETRY_BACKOFF_MS = 200;

/** timeoutOf says whether an error is a stall or the end of the whole fetch's time. */
function timeoutOf(e: unknown): 'stall' | 'deadline' | undefined {
  if (!isTrustError(e) || e.code !== 'ERR_IO_NETWORK') return undefined;
  const t = e.details?.timeout;
  return t === 'stall' || t === 'deadline' ? t : undefined;
}

/**
 * Http makes the requests of one fetch: each is abandoned after `stallMs` of silence (before the headers or between
 * two body chunks) or when it moves under `minBytesPerSecond` over such a window, and all of them at `deadline`. Network failures other than timeouts and 5xx answers are retried
 * (RETRIES times, with backoff); a definitive answer (2xx, 3xx, 4xx) is returned at once, never retried.
 */
class Http {
  readonly stallMs: number;
  readonly deadline: number;
  readonly minBytesPerSecond: number;
  /** requests counts what was sent (retries included), for the CLI's report. */
  requests = 0;
  constructor(stallMs: number, totalMs: number, minBytesPerSecond: number) {
    this.stallMs = stallMs;
    this.deadline = Date.now() + totalMs;
    this.minBytesPerSecond = minBytesPerSecond;
  }

  async open(url: URL, firstAttempt = 0): Promise<HttpAnswer> {
    for (let attempt = firstAttempt; ; attempt++) {
      let a: HttpAnswer;
      try {
        this.requests++;
        a = await httpGet(url, { stallMs: this.stallMs, deadline: this.deadline, minBytesPerSecond: this.minBytesPerSecond });
      } catch (e) {
        if (timeoutOf(e) !== undefined || attempt >= RETRIES) throw e;
        await this.#pause(attempt);
        continue;
      }
      if (a.status >= 500 && attempt < RETRIES) {
        a.close();
        await this.#pause(attempt);
        continue;
      }
      return a;
    }
  }

  /**
   * afterFailure is what `open` does after attempt `attempt` failed (a refused connection, or `answer`, a 5xx made
   * elsewhere): throws `answer` (or a network error) when no retry is left, else pauses and returns the next attempt.
   */
  async afterFailure(attempt: number, answer?: TrustError): Promise<number> {
    if (attempt >= RETRIES) throw answer ?? new IoError('ERR_IO_NETWORK', 'no retry left');
    await this.#pause(attempt);
    return attempt + 1;
  }

  async #pause(attempt: number): Promise<void> {
    const ms = Math.min(RETRY_BACKOFF_MS * 2 ** attempt, Math.max(0, this.deadline - Date.now()));
    await new Promise((r) => setTimeout(r, ms));
  }

  /** get returns the body of a 200 answer (bounded), undefined for 404, or throws. */
  async get(url: URL, maxBytes: number, what: string): Promise<Uint8Array | undefined> {
    const a = await this.open(url);
    if (a.status === 404) {
      a.close();
      return undefined;
    }
    if (a.status !== 200) {
      const body = await readCapped(a, ERROR_BODY_MAX_BYTES, url, 'error answer').catch(() => new Uint8Array());
      throw providerError(url.href, a.status, body);
    }
    return readCapped(a, maxBytes, url, what);
  }
}

/**
 * Providers is the list of one fetch's providers and which of them are dropped: a provider that timed out or gave a
 * bad answer (network failure after retries, 5xx, malformed or unverifiable bytes) is not asked again in this run.
 * A definitive "not here" (404, 416, 429, a policy refusal such as a rolled-back manifest) keeps it.
 */
class Providers {
  readonly all: URL[];
  readonly #dropped = new Set<string>();
  constructor(all: URL[]) {
    this.all = all;
  }
  usable(first?: URL): URL[] {
    const order = first === undefined ? this.all : [first, ...this.all.filter((p) => p.href !== first.href)];
    return order.filter((p) => !this.#dropped.has(p.href));
  }
  /** failed records an error of provider p and rethrows what must end the whole fetch (its time ran out). */
  failed(p: URL, e: unknown): TrustError {
    if (!isTrustError(e)) throw e;
    if (timeoutOf(e) === 'deadline') throw e;
    const keep = e.code === 'ERR_PROVIDER_NOT_FOUND' || e.code === 'ERR_PROVIDER_RANGE' || e.code === 'ERR_PROVIDER_RATE_LIMITED' || e.kind === 'policy';
    if (!keep) this.#dropped.add(p.href);
    return e;
  }
}

/** bootstrapRoot trusts the provider's root.json only if its bytes hash to the pinned fingerprint. */
async function bootstrapRoot(http: Http, providers: Providers, fingerprint: string, now: Date, event: FetchReleaseOptions['onEvent']): Promise<TrustRoot> {
  if (!/^sha256:[0-9a-f]{64}$/.test(fingerprint)) {
    throw new FormatError('ERR_FORMAT_HEX', `expected a trust fingerprint sha256:<64 hex>, got ${JSON.stringify(fingerprint.slice(0, 80))}`);
  }
  let last: TrustError | undefined;
  for (const p of providers.usable()) {
    const url = new URL('trust/root.json', p);
    try {
      const bytes = await http.get(url, ROOT_MAX_BYTES, 'trust root');
      if (bytes === undefined) throw new IoError('ERR_PROVIDER_NOT_FOUND', `${url.href}: not found`);
      const got = decodeHex(rootFingerprint(bytes).slice(7));
      if (!constantTimeEqual(got, decodeHex(fingerprint.slice(7)))) {
        throw new VerificationError('ERR_PROVIDER_ROOT_FINGERPRINT', `${url.href} hashes to ${rootFingerprint(bytes)}, not the pinned ${fingerprint}`);
      }
      return verifyPinnedRoot(parseRoot(bytes), { now });
    } catch (e) {
      last = providers.failed(p, e);
      event?.({ provider: p.href, what: 'trust root refused', code: last.code, message: last.message });
    }
  }
  throw last ?? new IoError('ERR_PROVIDER_NOT_FOUND', 'no provider to fetch the trust root from');
}

/** walkRootChain moves a pinned root forward through /trust/<N+1>.root.json (TUF §5.3) on the first provider that has them. */
async function walkRootChain(http: Http, providers: Providers, pinned: TrustRoot, now: Date, event: FetchReleaseOptions['onEvent']): Promise<TrustRoot> {
  let best = pinned;
  for (const p of providers.usable()) {
    let cur = pinned;
    try {
      for (let i = 0; i < MAX_ROOT_STEPS; i++) {
        const url = new URL(`trust/${cur.version + 1}.root.json`, p);
        const bytes = await http.get(url, ROOT_MAX_BYTES, 'trust root');
        if (bytes === undefined) break;
        cur = updateRoot(cur, parseRoot(bytes), now);
      }
    } catch (e) {
      // A provider serving a bad next root is ignored: what it could not prove changes nothing.
      const err = providers.failed(p, e);
      event?.({ provider: p.href, what: 'root update refused', code: err.code, message: err.message });
    }
    if (cur.version > best.version) best = cur;
  }
  // TUF §5.3.10: the final root must be unexpired (verifyPinnedRoot checks expiry against now), the pinned one
  // included when nothing newer was found: an expired pinned root may only vouch for its successors.
  return verifyPinnedRoot(best, { now });
}

/** DEFAULT_STALL_MS is the default stall timeout: a provider silent this long is dropped. */
export const DEFAULT_STALL_MS = 60_000;
/**
 * DEFAULT_MIN_BYTES_PER_SECOND is the default throughput floor: 4 KiB/s (240 KiB a minute) is met by any link of
 * 32 kbit/s or more, and makes a provider trickling bytes to hold the fetch give way to the next one within a window.
 */
export const DEFAULT_MIN_BYTES_PER_SECOND = 4096;
/** DEFAULT_TOTAL_MS is the default time allowed for a whole fetch (roots, manifests, proofs and every artifact). */
export const DEFAULT_TOTAL_MS = 300_000;

/** fetchRelease downloads and verifies one channel/arch release. */
export async function fetchRelease(o: FetchReleaseOptions): Promise<FetchedRelease> {
  if (o.providers.length === 0 || o.providers.length > MAX_PROVIDERS) {
    throw new FormatError('ERR_FORMAT_SCHEMA', `expected 1 to ${MAX_PROVIDERS} provider URLs, got ${o.providers.length}`);
  }
  // Normalized (URL.href) and deduplicated: the same provider written twice is one provider.
  const byHref = new Map<string, URL>();
  for (const u of o.providers.map(baseUrl)) if (!byHref.has(u.href)) byHref.set(u.href, u);
  const providers = new Providers([...byHref.values()]);
  const http = new Http(o.timeoutMs ?? DEFAULT_STALL_MS, o.totalTimeoutMs ?? DEFAULT_TOTAL_MS, o.minBytesPerSecond ?? DEFAULT_MIN_BYTES_PER_SECOND);
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
  for (const p of providers.usable()) {
    const url = new URL(`${encodeURIComponent(o.channel)}/${encodeURIComponent(o.arch)}/manifest.json`, p);
    try {
      const text = await http.get(url, MANIFEST_MAX_BYTES, 'manifest');
      if (text === undefined) throw new IoError('ERR_PROVIDER_NOT_FOUND', `${url.href}: no release of ${o.channel}/${o.arch}`);
      const vm = verifyManifest(parseManifest(text), root, { now, lastSeenSequence: seen?.sequence, lastSeenDigest: seen?.digest });
      // A provider may not answer one channel's question with another's (validly signed) manifest.
      if (vm.manifest.channel !== o.channel || vm.manifest.arch !== o.arch) {
        throw new PolicyError('ERR_MANIFEST_WRONG_TARGET', `${url.href} served the manifest of ${vm.manifest.channel}/${vm.manifest.arch}`);
      }
      let proof: Uint8Array | undefined;
      let logIndex: number | undefined;
      if (o.requireLog !== undefined) {
        proof = await http.get(new URL(url.href + MANIFEST_PROOF_SUFFIX), MAX_PROOF_FILE_BYTES, 'tlog-proof');
        logIndex = verifyManifestInclusion(vm, proof, o.requireLog).index;
      }
      event?.({ provider: p.href, what: `manifest verified: sequence ${vm.manifest.sequence}` });
      if (chosen === undefined || vm.manifest.sequence > chosen.vm.manifest.sequence) chosen = { vm, text, proof, provider: p, logIndex };
    } catch (e) {
      lastError = providers.failed(p, e);
      event?.({ provider: p.href, what: 'manifest refused', code: lastError.code, message: lastError.message });
    }
  }
  if (chosen === undefined) throw lastError ?? new IoError('ERR_PROVIDER_NOT_FOUND', 'every provider was dropped before the manifest was asked for');
  const vm = chosen.vm;
  const common = { manifest: vm, root, rootUpdated, logIndex: chosen.logIndex, manifestProvider: chosen.provider.href, manifestBytes: chosen.text, proofBytes: chosen.proof };
  if (o.onManifest !== undefined && !(await o.onManifest(vm))) return { ...common, files: [], requests: http.requests, skipped: true };

  // 2. The artifacts, each from the first provider that delivers the signed bytes.
  const wanted = o.artifacts ?? [...vm.manifest.artifacts.keys()];
  for (const name of wanted) {
    if (!vm.manifest.artifacts.has(name)) {
      throw new VerificationError('ERR_ARTIFACT_NOT_IN_MANIFEST', `${name} is not an artifact of ${o.channel}/${o.arch}`, {
        details: { artifacts: [...vm.manifest.artifacts.keys()] },
      });
    }
  }
  let decisions: Decision[] | undefined;
  if (o.policy !== undefined) {
    // Before DIR is touched: a release the policy refuses leaves nothing behind, not even a removed manifest.
    const url = new URL(`${encodeURIComponent(o.channel)}/${encodeURIComponent(o.arch)}/attestations`, chosen.provider);
    const bytes = await http.get(url, ATTESTATIONS_FETCH_MAX_BYTES, 'attestations');
    const keys = o.policy.keys ?? withKeys(keysFromRoot(root), o.policy.extraKeys ?? []);
    const atts = bytes === undefined ? [] : verifyAttestationFile(bytes, keys, now, url.href);
    event?.({ provider: chosen.provider.href, what: `${atts.length} attestation(s) verified` });
    decisions = [];
    for (const name of wanted) {
      const a = vm.manifest.artifacts.get(name);
      const m = a === undefined ? null : /^sha256:([0-9a-f]{64})$/.exec(a.hash);
      if (a === undefined || !m) continue; // refused below with its own code
      const scan = o.policy.scan?.(atts, m[1]!);
      decisions.push(assertAccepted(evaluatePolicy(o.policy.policy, { artifact: { name: a.filename, sha256: m[1]! }, attestations: atts, scan }, now)));
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
      for (const p of providers.usable(chosen.provider)) {
        // Candidate URLs resolved against the provider and compared as URLs (href), so `/blobs/…` and `blobs/…`
        // are one request, not two.
        const candidates = new Map<string, URL>();
        for (const c of [...(a.download_url === undefined ? [] : [a.download_url]), `blobs/sha256/${sha}`]) {
          try {
            const u = new URL(c.replace(/^\/+/, ''), p);
            if (u.protocol === 'http:' || u.protocol === 'https:') candidates.set(u.href, u);
          } catch {
            /* not a URL: skipped */
          }
        }
        for (const url of candidates.values()) {
          try {
            const progress = o.onProgress === undefined ? undefined : (received: number, done?: boolean): void =>
              o.onProgress!({ name, filename: a.filename, provider: p.href, received, total: a.size_bytes, ...(done === undefined ? {} : { done }) });
            await download(http, url, join(staging, `${files.length}.part`), join(o.outputDir, a.filename), a.size_bytes, sha, progress);
            files.push({ name, filename: a.filename, size: a.size_bytes, provider: p.href });
            done = true;
            break;
          } catch (e) {
            // Our own disk failing is not the provider's fault: trying the next one would not help.
            if (isTrustError(e) && (e.code === 'ERR_IO_WRITE_FAILED' || e.code === 'ERR_IO_EXISTS')) throw e;
            err = providers.failed(p, e);
            event?.({ provider: p.href, what: `artifact ${name} refused`, code: err.code, message: err.message });
            // A dropped provider is not asked for the other candidate URL either.
            if (!providers.usable().some((q) => q.href === p.href)) break;
          }
        }
        if (done) break;
      }
      if (!done) throw err ?? new IoError('ERR_PROVIDER_NOT_FOUND', `artifact ${name}: every provider was dropped`);
    }
  } finally {
    await fsp.rm(staging, { recursive: true, force: true }).catch(() => undefined);
  }

  // 3. The verified manifest (the exact bytes verified) and, when it was verified, its proof beside the artifacts.
  await writeFileAtomic(join(o.outputDir, 'manifest.json'), chosen.text);
  if (chosen.proof !== undefined) await writeFileAtomic(join(o.outputDir, 'manifest.json' + MANIFEST_PROOF_SUFFIX), chosen.proof);
  return {
    ...common,
    files,
    requests: http.requests,
    ...(decisions === undefined ? {} : { decisions }),
  };
}

/** withKeys adds keys to a root's attestation signers (each counts as one more distinct trusted key). */
function withKeys(k: EnvelopeKeys, extra: readonly PublicKey[]): EnvelopeKeys {
  if (extra.length === 0) return k;
  const authorized = new Map(k.authorized);
  for (const key of extra) authorized.set(tufKeyId(key), { id: tufKeyId(key), key });
  return { ...k, authorized };
}

/** STAGING_DIR holds downloads until they are verified (inside DIR, so the final rename stays on one file system). */
export const STAGING_DIR = '.custody-fetch';

/** WRITE_BATCH_BYTES: received chunks are written in batches of about this size (one writev), fewer syscalls. */
const WRITE_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * download streams url into `tmp` in one pass — each chunk is hashed as it arrives and written in large batches
 * while the next ones are received — refusing more than `size` bytes or another SHA-256; then one fsync, a size
 * check on disk, and the rename to dest.
 *
 * An `http:` provider is first asked through io/http-download, which reads a plain `200` answer of `size` bytes
 * straight into its write buffers (half the CPU per byte); any other answer, or a connection that fails before one,
 * is asked again through node:http ({@link receiveGeneral}: its retries, error bodies and framing rules as before).
 */
async function download(
  http: Http,
  url: URL,
  tmp: string,
  dest: string,
  size: number,
  sha256Hex: string,
  progress?: (received: number, done?: boolean) => void,
): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  let ok = false;
  try {
    const hasher = await createMultiHasher(['sha256']);
    let n = 0;
    const count = (piece: Uint8Array): void => {
      n += piece.length;
      hasher.update(piece);
      progress?.(n);
    };
    // The fast path makes the first attempt; after a failed connection (or a head it leaves to node:http) the
    // general path goes on from the second, so the retries and their count are the same either way.
    let firstAttempt = 0;
    let fast = false;
    if (url.protocol === 'http:') {
      const file = (fh = await openPart(tmp));
      http.requests++;
      const write = async (bytes: Uint8Array): Promise<void> => {
        try {
          await writevFully(file, [bytes]);
        } catch (e) {
          throw toIoError(e, tmp, 'write');
        }
      };
      const data = (piece: Uint8Array): void => {
        // Stop at the first byte beyond the signed size: an endless answer costs nothing.
        if (n + piece.length > size) throw new VerificationError('ERR_ARTIFACT_SIZE_MISMATCH', `${url.href}: more than the signed ${size} bytes`);
        count(piece);
      };
      const r = await httpDownload(url, { stallMs: http.stallMs, deadline: http.deadline, minBytesPerSecond: http.minBytesPerSecond, size, errorBodyMaxBytes: ERROR_BODY_MAX_BYTES }, { data, write });
      if (r === 'done') fast = true;
      else if (r === 'failed') firstAttempt = await http.afterFailure(0);
      else if (r.status >= 500 && r.status <= 599) firstAttempt = await http.afterFailure(0, providerError(url.href, r.status, r.body));
      else if (r.status !== 200) throw providerError(url.href, r.status, r.body);
      else throw new VerificationError('ERR_ARTIFACT_SIZE_MISMATCH', `${url.href}: expected ${size} bytes, the provider announces ${printable(r.contentLength ?? '', 40)}`);
    }
    if (!fast) {
      const a = await http.open(url, firstAttempt);
      try {
        await receiveHead(a, url, size);
        fh ??= await openPart(tmp); // already open (and still empty) after the fast path's failed attempt
        await receiveGeneral(a, url, size, tmp, fh, count);
      } finally {
        a.close();
      }
    }
    const file = fh!;
    if (n !== size) throw new VerificationError('ERR_ARTIFACT_SIZE_MISMATCH', `${url.href}: expected ${size} bytes, got ${n}`);
    const got = hasher.digest().sha256;
    if (!constantTimeEqual(decodeHex(got), decodeHex(sha256Hex))) {
      throw new VerificationError('ERR_ARTIFACT_HASH_MISMATCH', `${url.href}: sha256 does not match the signed manifest`, {
        details: { expected: sha256Hex, got },
      });
    }
    try {
      await file.sync();
      // What is on disk must be what was hashed (a short write would show here).
      if ((await file.stat()).size !== size) throw new IoError('ERR_IO_WRITE_FAILED', `${tmp}: the file is shorter than what was written`);
      await file.close();
      fh = undefined;
      await fsp.rename(tmp, dest);
      await syncDir(dirname(dest));
    } catch (e) {
      throw toIoError(e, dest, 'write');
    }
    ok = true;
  } finally {
    progress?.(ok ? size : 0, ok);
    await fh?.close().catch(() => undefined);
    await fsp.unlink(tmp).catch(() => undefined);
  }
}

/** openPart creates the staging file (never an existing one). */
async function openPart(tmp: string): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  } catch (e) {
    throw toIoError(e, tmp, 'write');
  }
}

/** receiveHead refuses an answer other than 200 (with the provider's coded error) or one announcing another size. */
async function receiveHead(a: HttpAnswer, url: URL, size: number): Promise<void> {
  if (a.status !== 200) {
    const body = await readCapped(a, ERROR_BODY_MAX_BYTES, url, 'error answer').catch(() => new Uint8Array());
    throw providerError(url.href, a.status, body);
  }
  const declared = a.headers['content-length'];
  if (declared !== undefined && Number(declared) !== size) {
    throw new VerificationError('ERR_ARTIFACT_SIZE_MISMATCH', `${url.href}: expected ${size} bytes, the provider announces ${printable(declared, 40)}`);
  }
}

/**
 * receiveGeneral streams a 200 answer's body from node:http into `file` (at its current position), passing each
 * chunk to `count` first. Writes run behind the download in batches of WRITE_BATCH_BYTES (writev, no copy).
 */
async function receiveGeneral(a: HttpAnswer, url: URL, size: number, tmp: string, file: fsp.FileHandle, count: (piece: Uint8Array) => void): Promise<void> {
  // `writing` chains the batches in order; the loop waits for it only when more than two batches are pending, so
  // memory stays bounded and the socket keeps flowing.
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let pendingBytes = 0;
  let writing: Promise<void> = Promise.resolve();
  const flush = (): void => {
    if (batchBytes === 0) return;
    const b = batch;
    const n = batchBytes;
    batch = [];
    batchBytes = 0;
    pendingBytes += n;
    writing = writing.then(async () => {
      await writevFully(file, b);
      pendingBytes -= n;
    });
    // Handled here so a failed write is not an unhandled rejection while the loop is receiving; awaited below.
    writing.catch(() => undefined);
  };
  let n = 0;
  // A failed local write (ENOSPC, EIO) is ours, not the provider's: it must not read as a network failure that
  // drops this provider and tries the next.
  let writeFailed: unknown;
  const awaitWriting = async (): Promise<void> => {
    try {
      await writing;
    } catch (e) {
      writeFailed = e;
      throw e;
    }
  };
  try {
    for await (const c of a.body as AsyncIterable<Buffer>) {
      n += c.length;
      // Stop at the first byte beyond the signed size: an endless answer costs nothing.
      if (n > size) throw new VerificationError('ERR_ARTIFACT_SIZE_MISMATCH', `${url.href}: more than the signed ${size} bytes`);
      count(c);
      batch.push(c);
      batchBytes += c.length;
      if (batchBytes >= WRITE_BATCH_BYTES) {
        flush();
        if (pendingBytes > 2 * WRITE_BATCH_BYTES) await awaitWriting();
      }
    }
  } catch (e) {
    a.close();
    await writing.catch(() => undefined);
    if (writeFailed !== undefined) throw toIoError(writeFailed, tmp, 'write');
    throw bodyError(a, url, e);
  }
  flush();
  try {
    await writing;
  } catch (e) {
    throw toIoError(e, tmp, 'write');
  }
}
