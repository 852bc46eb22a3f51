/**
 * client/publish — uploading a release to a running `custody serve` through its admin API (docs/provider.md):
 * `PUT /admin/v1/blobs/sha256/<hex>` for each blob the provider lacks (it stores the bytes only if they hash to that
 * name), then `POST /admin/v1/releases/<channel>/<arch>` (sign, log, serve). Used by `custody publish` and
 * `custody promote`.
 *
 * Trust boundary: the provider's answers are read with a cap and the strict JSON parser; its messages and hints are
 * escaped and kept in details, never shown as custody's own hint. The token is sent only as a bearer header.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { parseJsonObject, type JsonObject } from '../encoding/json.ts';
import { printable } from '../encoding/text.ts';
import { IoError, UsageError, errorFromCode, isErrorCode, isTrustError } from '../errors.ts';
import { httpGet, readCapped } from '../io/http-client.ts';

/** ADMIN_ANSWER_MAX_BYTES caps an admin answer (a release answer carries the manifest and its proof). */
const ADMIN_ANSWER_MAX_BYTES = 4 * 1024 * 1024;
/** ADMIN_STALL_MS: an admin call silent this long is abandoned (a release signs, logs and waits for witnesses). */
const ADMIN_STALL_MS = 120_000;
/** ADMIN_DEADLINE_MS bounds one admin call, upload included. */
const ADMIN_DEADLINE_MS = 3_600_000;

/** adminUrl resolves an admin path against the provider's base URL. */
export function adminUrl(base: string, path: string): string {
  let u: URL;
  try {
    u = new URL(base.endsWith('/') ? base : base + '/');
  } catch (e) {
    throw new UsageError('ERR_USAGE_ARGUMENT', `expected a provider URL, got ${JSON.stringify(base)}`, { cause: e });
  }
  return new URL(path, u).href;
}

/**
 * adminCall sends one admin request and returns the provider's JSON answer, read with a cap and the strict parser.
 * A refusal is ERR_PROVIDER_RESPONSE naming the server's code (details.serverCode); its texts are escaped.
 */
export async function adminCall(url: string, o: { method: 'PUT' | 'POST'; headers: Record<string, string>; body: Uint8Array | Readable }): Promise<JsonObject> {
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
    // A refused token (401/403) keeps the server's code when it is one of ours, with its class, exit code and our
    // hint (as client/signing-client relays /v1 refusals): a bad token is no I/O failure to retry.
    if ((a.status === 401 || a.status === 403) && isErrorCode(code) && code !== 'ERR_INTERNAL') {
      throw errorFromCode(code, `${url}: HTTP ${a.status}: ${typeof j.message === 'string' ? printable(j.message) : code}`, { details: { status: a.status, serverCode: code } });
    }
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
export function field<T extends 'string' | 'number' | 'boolean'>(j: JsonObject, name: string, type: T, url: string): T extends 'string' ? string : T extends 'number' ? number : boolean {
  const v = j[name];
  if (typeof v !== type || (type === 'number' && !Number.isSafeInteger(v))) {
    throw new IoError('ERR_PROVIDER_RESPONSE', `${url}: expected "${name}" (${type}) in the provider answer`);
  }
  return v as never;
}

/** BlobSource is one blob to upload: a file (streamed) or bytes, under the SHA-256 the caller computed. */
export type BlobSource = { sha256: string; size: number } & ({ path: string } | { bytes: Uint8Array });

/**
 * uploadBlob sends a blob the provider lacks, under its SHA-256: the provider stores it only if the bytes hash to
 * that name, so what lands there is exactly what the caller hashed (and judged). Returns whether it was created.
 */
export async function uploadBlob(base: string, token: string, blob: BlobSource): Promise<boolean> {
  // Ask first: a blob the provider stores already is not sent again (the daemon would answer before reading it).
  if (await blobPresent(base, blob.sha256)) return false;
  const url = adminUrl(base, `admin/v1/blobs/sha256/${blob.sha256}`);
  const r = await adminCall(url, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
    body: 'path' in blob ? createReadStream(blob.path) : blob.bytes,
  });
  return field(r, 'created', 'boolean', url);
}

/** ReleaseRequest is the body of POST /admin/v1/releases/<channel>/<arch>. */
export interface ReleaseRequest {
  artifacts: Record<string, { filename: string; sha256: string }>;
  version?: string | undefined;
  validityS?: number | undefined;
  /** attestations is the sha256 of an uploaded .intoto.jsonl blob. */
  attestations?: string | undefined;
}

/** PublishedRelease is the provider's answer to a release. */
export interface PublishedRelease {
  sequence: number;
  digest: string;
  log_index: number;
  manifest_url: string;
}

/** requestRelease asks the provider to sign, log and serve a release of uploaded blobs. */
export async function requestRelease(base: string, token: string, channel: string, arch: string, req: ReleaseRequest): Promise<PublishedRelease> {
  const relUrl = adminUrl(base, `admin/v1/releases/${encodeURIComponent(channel)}/${encodeURIComponent(arch)}`);
  const body = {
    artifacts: req.artifacts,
    ...(req.version === undefined ? {} : { version: req.version }),
    ...(req.validityS === undefined ? {} : { validity_s: req.validityS }),
    ...(req.attestations === undefined ? {} : { attestations: req.attestations }),
  };
  const r = await adminCall(relUrl, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: new TextEncoder().encode(JSON.stringify(body)),
  });
  return {
    sequence: field(r, 'sequence', 'number', relUrl),
    digest: field(r, 'digest', 'string', relUrl),
    log_index: field(r, 'log_index', 'number', relUrl),
    manifest_url: field(r, 'manifest_url', 'string', relUrl),
  };
}
