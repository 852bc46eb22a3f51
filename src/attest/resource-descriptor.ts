/**
 * attest/resource-descriptor — the in-toto Attestation Framework's ResourceDescriptor, v1 (in-toto/attestation
 * spec/v1: resource_descriptor.md, digest_set.md), as SLSA Provenance v1 uses it for resolvedDependencies,
 * builderDependencies and byproducts.
 *
 * `{"uri": ResourceURI, "digest": {alg: value}, "name": s, "downloadLocation": ResourceURI, "mediaType": s,
 * "content": base64 bytes, "annotations": {…}}`, every field optional but at least one of uri, digest and content
 * set (resource_descriptor.md §Fields). Parsing is bounded (string lengths, digest entries, content bytes) and follows
 * the framework's parsing rules: unknown fields are ignored, and a null field reads as an absent one. Digests of the
 * algorithms digest_set.md fixes as hex are checked like a statement's subjects; others are kept verbatim.
 */
import { decodeBase64Either, encodeBase64 } from '../encoding/bytes.ts';
import { isJsonObject, type JsonObject, type JsonValue } from '../encoding/json.ts';
import { printable } from '../encoding/text.ts';
import { FormatError, LimitError } from '../errors.ts';
import { DIGEST_HEX_CHARS } from './statement.ts';

/** RD_MAX_STRING_CHARS caps uri, name, downloadLocation, mediaType and one digest value. */
export const RD_MAX_STRING_CHARS = 8192;
/** RD_MAX_DIGESTS caps the entries of one digest set. */
export const RD_MAX_DIGESTS = 32;
/** RD_MAX_CONTENT_BYTES caps inline `content` (decoded); larger resources are referenced by uri and digest. */
export const RD_MAX_CONTENT_BYTES = 1024 * 1024;

/** ResourceDescriptor is one resource (a dependency, a builder component, a byproduct). */
export interface ResourceDescriptor {
  uri?: string;
  /** digest maps algorithm to value (lowercase hex for the algorithms of DIGEST_HEX_CHARS). */
  digest?: Record<string, string>;
  name?: string;
  downloadLocation?: string;
  mediaType?: string;
  /** content is the resource's bytes inline (base64 in JSON). */
  content?: Uint8Array;
  /** annotations are free-form JSON the producer adds. */
  annotations?: JsonObject;
}

/** DescriptorErrorCode is the code a caller's document reports malformed descriptors under. */
export type DescriptorErrorCode = 'ERR_SLSA_SCHEMA' | 'ERR_INTOTO_SCHEMA';

// RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) followed by ":"; a URI holds no whitespace or
// control characters. This is the shape check a TypeURI/ResourceURI needs, not a full RFC 3986 parser.
// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]*$/;

/** isUri tells whether s looks like an absolute URI (scheme ":" rest, no whitespace or control characters). */
export function isUri(s: string): boolean {
  return s.length <= RD_MAX_STRING_CHARS && URI.test(s);
}

/** AS_URI: the options of a URI field (one object, not one per call). */
const AS_URI = { uri: true } as const;

/** optionalString reads an optional bounded string field; null reads as absent (in-toto parsing rules). */
export function optionalString(
  obj: JsonObject,
  field: string,
  where: string,
  code: DescriptorErrorCode,
  options: { uri?: boolean; max?: number } = {},
): string | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new FormatError(code, `${where}: "${field}" must be a string`);
  const max = options.max ?? RD_MAX_STRING_CHARS;
  if (v.length > max) throw new LimitError('ERR_LIMIT_SIZE', `${where}: "${field}" is over ${max} characters`);
  if (options.uri === true && !URI.test(v)) throw new FormatError(code, `${where}: "${field}" must be a URI, got "${printable(v, 80)}"`);
  return v;
}

/** parseDigestSet reads a DigestSet: known algorithms must be lowercase hex of their length; at most RD_MAX_DIGESTS. */
export function parseDigestSet(v: JsonValue, where: string, code: DescriptorErrorCode): Record<string, string> {
  if (!isJsonObject(v)) throw new FormatError(code, `${where}: "digest" must be an object`);
  const entries = Object.entries(v);
  if (entries.length > RD_MAX_DIGESTS) throw new LimitError('ERR_LIMIT_COUNT', `${where}: digest has ${entries.length} entries, over the cap of ${RD_MAX_DIGESTS}`);
  const out: Record<string, string> = {};
  for (const [alg, value] of entries) {
    if (typeof value !== 'string' || value.length > RD_MAX_STRING_CHARS) throw new FormatError(code, `${where}: digest "${printable(alg, 40)}" must be a string`);
    const hexChars = DIGEST_HEX_CHARS[alg];
    if (hexChars !== undefined && (value.length !== hexChars || !/^[0-9a-f]+$/.test(value))) {
      throw new FormatError(code, `${where}: ${alg} digest must be ${hexChars} lowercase hex characters`);
    }
    out[alg] = value;
  }
  return out;
}

/** parseResourceDescriptor reads one descriptor (bounded; unknown fields ignored) or throws `code`. */
export function parseResourceDescriptor(v: JsonValue, where: string, code: DescriptorErrorCode): ResourceDescriptor {
  if (!isJsonObject(v)) throw new FormatError(code, `${where}: expected a ResourceDescriptor object`);
  const rd: ResourceDescriptor = {};
  const uri = optionalString(v, 'uri', where, code, AS_URI);
  if (uri !== undefined) rd.uri = uri;
  if (v['digest'] !== undefined && v['digest'] !== null) rd.digest = parseDigestSet(v['digest'], where, code);
  const name = optionalString(v, 'name', where, code);
  if (name !== undefined) rd.name = name;
  const downloadLocation = optionalString(v, 'downloadLocation', where, code, AS_URI);
  if (downloadLocation !== undefined) rd.downloadLocation = downloadLocation;
  const mediaType = optionalString(v, 'mediaType', where, code);
  if (mediaType !== undefined) rd.mediaType = mediaType;
  const content = v['content'];
  if (content !== undefined && content !== null) {
    if (typeof content !== 'string') throw new FormatError(code, `${where}: "content" must be a base64 string`);
    // Checked before decoding: base64 is 4 characters per 3 bytes.
    if (content.length > Math.ceil(RD_MAX_CONTENT_BYTES / 3) * 4) {
      throw new LimitError('ERR_LIMIT_SIZE', `${where}: "content" is over ${RD_MAX_CONTENT_BYTES} bytes`);
    }
    rd.content = decodeBase64Either(content, `${where} content`);
  }
  const annotations = v['annotations'];
  if (annotations !== undefined && annotations !== null) {
    if (!isJsonObject(annotations)) throw new FormatError(code, `${where}: "annotations" must be an object`);
    rd.annotations = annotations;
  }
  // resource_descriptor.md: "at least one of uri, digest or content" identifies the resource.
  const hasDigest = rd.digest !== undefined && Object.keys(rd.digest).length > 0;
  if (rd.uri === undefined && !hasDigest && rd.content === undefined) {
    throw new FormatError(code, `${where}: a ResourceDescriptor needs at least one of "uri", "digest" and "content"`);
  }
  return rd;
}

/** resourceDescriptorToJson renders a descriptor with the spec's field names in its order, absent fields omitted. */
export function resourceDescriptorToJson(rd: ResourceDescriptor): JsonObject {
  const out: JsonObject = {};
  if (rd.uri !== undefined) out['uri'] = rd.uri;
  if (rd.digest !== undefined) out['digest'] = { ...rd.digest };
  if (rd.name !== undefined) out['name'] = rd.name;
  if (rd.downloadLocation !== undefined) out['downloadLocation'] = rd.downloadLocation;
  if (rd.mediaType !== undefined) out['mediaType'] = rd.mediaType;
  if (rd.content !== undefined) out['content'] = encodeBase64(rd.content);
  if (rd.annotations !== undefined) out['annotations'] = rd.annotations;
  return out;
}
