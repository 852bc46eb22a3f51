/**
 * pkg/metadata — the signed metadata of a PSPF/2025 package, as FlavorPack v0.3.0 builders emit it (not the
 * unimplemented FEP-0002 schema): gzip'd UTF-8 JSON, pretty-printed with two-space indents.
 *
 * Trust boundary: the Ed25519 signature covers the exact DECOMPRESSED bytes (never a re-serialisation); the
 * compressed bytes are only covered by the unsigned SHA-256 in the index. So: decompress under a cap (a gzip bomb
 * stops at `maxMetadataJsonBytes`), verify the signature over those bytes (pkg/reader), and only then trust what
 * this module parses. Parsing is strict (encoding/json: no duplicate keys, no `__proto__`) and keeps every field in
 * `raw`. Fields we rely on and their rules:
 * - `format` = "PSPF/2025"; `package.name`, `package.version` strings;
 * - `slots[i]`: `slot` = i, `id` a valid slot id (pkg/slot-id: a file name, ERR_PKG_SLOT_ID_INVALID) and unique,
 *   `target` string, `size` integer ≥ 0,
 *   `checksum` = "sha256:" + 64 lowercase hex (the digest of the STORED bytes), `operations` string,
 *   `purpose`/`lifecycle` strings, `permissions` null or an octal string ("0755");
 * - `launcher.size` integer, `launcher.checksum` "sha256:<hex>" — the reference writer emits
 *   "sha256:sha256:<hex>" and both spellings are read.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { parseJsonObject, isJsonObject, type JsonObject, type JsonValue } from '../encoding/json.ts';
import { FormatError, LimitError, isTrustError } from '../errors.ts';
import type { LauncherMetadata, PackageMetadata, SlotMetadata } from './pspf.types.ts';
import { parseOperations } from './operations.ts';
import { checkSlotId } from './slot-id.ts';

/** PSPF_FORMAT_NAME is the `format` value of the metadata. */
export const PSPF_FORMAT_NAME = 'PSPF/2025';
/** METADATA_GZIP_LEVEL: metadata is small; level 9 as in the reference. Node's gzip header has mtime 0. */
export const METADATA_GZIP_LEVEL = 9;

const GZIP_MAGIC = [0x1f, 0x8b, 0x08];

function fail(message: string, cause?: unknown): never {
  throw new FormatError('ERR_PKG_METADATA_FORMAT', `package metadata: ${message}`, cause === undefined ? {} : { cause });
}

/** decompressMetadata gunzips the stored metadata, refusing more than maxJsonBytes of output. */
export function decompressMetadata(compressed: Uint8Array, maxJsonBytes: number): Uint8Array {
  if (compressed.length < 18 || GZIP_MAGIC.some((b, i) => compressed[i] !== b)) fail('not a gzip stream');
  try {
    return new Uint8Array(gunzipSync(compressed, { maxOutputLength: maxJsonBytes }));
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new LimitError('ERR_PKG_METADATA_LIMIT', `package metadata decompresses to more than ${maxJsonBytes} bytes`, {
        cause: e,
        details: { cap: maxJsonBytes },
      });
    }
    return fail('the gzip stream is corrupt', e);
  }
}

/** compressMetadata gzips metadata JSON deterministically (Node writes mtime 0, OS 3). */
export function compressMetadata(json: Uint8Array): Uint8Array {
  return new Uint8Array(gzipSync(json, { level: METADATA_GZIP_LEVEL }));
}

function str(o: JsonObject, k: string, where: string): string {
  const v = o[k];
  if (typeof v !== 'string') fail(`${where}.${k} must be a string`);
  return v;
}

function optStr(o: JsonObject, k: string, where: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(`${where}.${k} must be a string`);
  return v;
}

function uint(o: JsonObject, k: string, where: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${where}.${k} must be a non-negative integer`);
  return v;
}

function obj(v: JsonValue | undefined, where: string): JsonObject {
  if (!isJsonObject(v)) fail(`${where} must be an object`);
  return v;
}

/** parseDigestRef reads "sha256:<64 hex>" (and, when allowed, the reference's "sha256:sha256:<64 hex>"). */
export function parseDigestRef(s: string, where: string, allowDoublePrefix = false): Uint8Array {
  const m = /^sha256:(sha256:)?([0-9a-f]{64})$/.exec(s);
  if (!m || (m[1] !== undefined && !allowDoublePrefix)) fail(`${where} must be "sha256:" and 64 lowercase hex chars`);
  return new Uint8Array(Buffer.from(m[2]!, 'hex'));
}

/** formatDigestRef renders "sha256:<hex>". */
export function formatDigestRef(digest: Uint8Array): string {
  return `sha256:${Buffer.from(digest).toString('hex')}`;
}

/** parsePermissions reads null or an octal string of 3–4 digits ("644", "0755"). */
export function parsePermissions(v: JsonValue | undefined, where: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || !/^0?[0-7]{3,4}$/.test(v) || parseInt(v, 8) > 0o7777) {
    fail(`${where} must be null or an octal string such as "0755"`);
  }
  return parseInt(v, 8);
}

/** formatPermissions renders a mode as 4 octal digits ("0644"). */
export function formatPermissions(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

function parseSlot(v: JsonValue | undefined, i: number): SlotMetadata {
  const where = `slots[${i}]`;
  const o = obj(v, where);
  const slot = uint(o, 'slot', where);
  if (slot !== i) fail(`${where}.slot must be ${i}, got ${slot}`);
  const id = str(o, 'id', where);
  checkSlotId(id, `${where}.id`);
  const operations = str(o, 'operations', where);
  const chain = parseOperations(operations, `${where}.operations`);
  return {
    slot,
    id,
    source: optStr(o, 'source', where),
    target: str(o, 'target', where),
    size: uint(o, 'size', where),
    sha256: parseDigestRef(str(o, 'checksum', where), `${where}.checksum`),
    operations,
    chain,
    purpose: str(o, 'purpose', where),
    lifecycle: str(o, 'lifecycle', where),
    permissions: parsePermissions(o.permissions, `${where}.permissions`),
    raw: o,
  };
}

function parseLauncher(v: JsonValue | undefined): LauncherMetadata {
  const o = obj(v, 'launcher');
  return {
    size: uint(o, 'size', 'launcher'),
    // FlavorPack v0.3.0 writes "sha256:sha256:<hex>": read both, write the single prefix.
    sha256: parseDigestRef(str(o, 'checksum', 'launcher'), 'launcher.checksum', true),
    tool: optStr(o, 'tool', 'launcher'),
    toolVersion: optStr(o, 'tool_version', 'launcher'),
  };
}

/**
 * parseMetadata parses the decompressed metadata bytes (already signature-verified by the caller) into the model.
 * Throws ERR_PKG_METADATA_FORMAT (or ERR_PKG_METADATA_LIMIT, ERR_PKG_OPERATION_UNSUPPORTED).
 */
export function parseMetadata(json: Uint8Array, maxJsonBytes: number): PackageMetadata {
  let raw: JsonObject;
  try {
    // Floats are accepted: the document is signed as bytes and never re-serialised, and builders may emit them.
    raw = parseJsonObject(json, { maxBytes: maxJsonBytes, allowFloats: true, what: 'package metadata' });
  } catch (e) {
    if (isTrustError(e) && e.kind === 'limit') {
      throw new LimitError('ERR_PKG_METADATA_LIMIT', e.message, { cause: e });
    }
    return fail(isTrustError(e) ? e.message.replace(/^package metadata: /, '') : 'not json', e);
  }
  const format = str(raw, 'format', 'metadata');
  if (format !== PSPF_FORMAT_NAME) fail(`format must be ${JSON.stringify(PSPF_FORMAT_NAME)}, got ${JSON.stringify(format)}`);
  const pkg = obj(raw.package, 'package');
  const slotsV = raw.slots;
  if (!Array.isArray(slotsV)) fail('slots must be an array');
  const slots = slotsV.map((s, i) => parseSlot(s, i));
  const ids = new Set<string>();
  for (const s of slots) {
    if (ids.has(s.id)) fail(`slot id ${JSON.stringify(s.id)} is used twice`);
    ids.add(s.id);
  }
  return {
    format,
    formatVersion: str(raw, 'format_version', 'metadata'),
    name: str(pkg, 'name', 'package'),
    version: str(pkg, 'version', 'package'),
    slots,
    launcher: parseLauncher(raw.launcher),
    raw,
  };
}

/** formatMetadata renders a metadata document the way the reference does (two-space indents, no trailing newline). */
export function formatMetadata(doc: JsonObject): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(doc, null, 2));
}
