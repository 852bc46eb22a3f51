/**
 * sbom/read — reads the components and files of an SBOM: SPDX 2.3 JSON (spdx.github.io/spdx-spec/v2.3: `packages[]`
 * with `versionInfo`, `externalRefs[]` of category PACKAGE-MANAGER and type purl, `licenseDeclared` /
 * `licenseConcluded`; `files[]` with `fileName` and `checksums[]`) or CycloneDX 1.4–1.6 JSON
 * (cyclonedx.org/docs/1.6/json: `components[]` with `name`, `version`, `purl`, `licenses[]`, `hashes[]`, nested
 * `components[]`; components of type "file" are files). The format is detected from `spdxVersion` / `bomFormat`.
 *
 * Trust boundary: the SBOM is untrusted input. It is parsed by encoding/json's bounded parser (size cap
 * SBOM_MAX_BYTES before decoding, depth, value count, duplicate and forbidden keys), then walked with caps on
 * components, files and CycloneDX nesting (LimitError ERR_LIMIT_SIZE / ERR_LIMIT_COUNT / ERR_LIMIT_DEPTH). A field
 * of the wrong type, an unparsable purl or a digest that is not hex gives ERR_SBOM_READ_MALFORMED; a document that
 * is neither format ERR_SBOM_READ_UNKNOWN_FORMAT. Unknown fields are ignored.
 */
import { isJsonObject, parseJsonObject, type JsonObject, type JsonValue } from '../encoding/json.ts';
import { FormatError, LimitError } from '../errors.ts';
import { parsePurl } from './purl.ts';

/** SBOM_MAX_BYTES caps an SBOM file (64 MiB). */
export const SBOM_MAX_BYTES = 64 * 1024 * 1024;
/** SBOM_MAX_COMPONENTS caps the components read (200,000). */
export const SBOM_MAX_COMPONENTS = 200_000;
/** SBOM_READ_MAX_FILES caps the files read from one SBOM (1,000,000); sbom/collect's SBOM_MAX_FILES caps a directory walk. */
export const SBOM_READ_MAX_FILES = 1_000_000;
/** SBOM_MAX_NESTING caps CycloneDX component nesting (32 levels). */
export const SBOM_MAX_NESTING = 32;
/** SBOM_MAX_JSON_DEPTH caps JSON nesting (each component level costs 2-3). */
const SBOM_MAX_JSON_DEPTH = 3 * SBOM_MAX_NESTING + 16;
/** SBOM_MAX_JSON_VALUES caps the JSON values of one document. */
const SBOM_MAX_JSON_VALUES = 20_000_000;
/** SPDX_VERSIONS are the spdxVersion values read (2.2 JSON has the same fields read here). */
const SPDX_VERSIONS = new Set(['SPDX-2.2', 'SPDX-2.3']);
const CYCLONEDX_VERSIONS = new Set(['1.4', '1.5', '1.6']);

/** SbomComponent is one package/component of the SBOM. */
export interface SbomComponent {
  name: string;
  version?: string;
  purl?: string;
  licenses?: string[];
}

/** SbomFile is one file the SBOM lists, with the digests it gives (lowercase hex). */
export interface SbomFile {
  name: string;
  sha256?: string;
  sha1?: string;
}

/** SbomComponents is what {@link readSbomComponents} returns. */
export interface SbomComponents {
  format: 'spdx' | 'cyclonedx';
  /** specVersion: "SPDX-2.3" or the CycloneDX specVersion ("1.6"). */
  specVersion: string;
  components: SbomComponent[];
  files: SbomFile[];
}

function malformed(message: string): never {
  throw new FormatError('ERR_SBOM_READ_MALFORMED', `sbom: ${message}`);
}

function optString(o: JsonObject, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') malformed(`${where}.${key} must be a string`);
  return v;
}

function optArray(o: JsonObject, key: string, where: string): JsonValue[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) malformed(`${where}.${key} must be an array`);
  return v;
}

function obj(v: JsonValue | undefined, where: string): JsonObject {
  if (!isJsonObject(v)) malformed(`${where} must be an object`);
  return v;
}

function digest(v: string, bytes: number, where: string): string {
  const s = v.toLowerCase();
  if (s.length !== bytes * 2 || !/^[0-9a-f]+$/.test(s)) malformed(`${where} must be ${bytes * 2} hex characters`);
  return s;
}

class Counter {
  components = 0;
  files = 0;
  component(): void {
    if (++this.components > SBOM_MAX_COMPONENTS) {
      throw new LimitError('ERR_LIMIT_COUNT', `sbom: more than ${SBOM_MAX_COMPONENTS} components`, { details: { cap: SBOM_MAX_COMPONENTS } });
    }
  }
  file(): void {
    if (++this.files > SBOM_READ_MAX_FILES) throw new LimitError('ERR_LIMIT_COUNT', `sbom: more than ${SBOM_READ_MAX_FILES} files`, { details: { cap: SBOM_READ_MAX_FILES } });
  }
}

/** SPDX 2.3 §7.2 / §7.21: NOASSERTION and NONE are not licenses. */
function spdxLicense(v: string | undefined): string | undefined {
  return v === undefined || v === 'NOASSERTION' || v === 'NONE' || v === '' ? undefined : v;
}

function readSpdx(doc: JsonObject, specVersion: string): SbomComponents {
  const count = new Counter();
  const components: SbomComponent[] = [];
  for (const [i, raw] of optArray(doc, 'packages', 'document').entries()) {
    count.component();
    const where = `packages[${i}]`;
    const p = obj(raw, where);
    const name = optString(p, 'name', where) ?? malformed(`${where}.name is missing`);
    const c: SbomComponent = { name };
    const version = optString(p, 'versionInfo', where);
    if (version !== undefined) c.version = version;
    // SPDX 2.3 §7.21: referenceCategory PACKAGE-MANAGER (PACKAGE_MANAGER in 2.2 documents), referenceType purl.
    for (const [j, r] of optArray(p, 'externalRefs', where).entries()) {
      const ref = obj(r, `${where}.externalRefs[${j}]`);
      const cat = optString(ref, 'referenceCategory', `${where}.externalRefs[${j}]`);
      const type = optString(ref, 'referenceType', `${where}.externalRefs[${j}]`);
      if ((cat === 'PACKAGE-MANAGER' || cat === 'PACKAGE_MANAGER') && type === 'purl' && c.purl === undefined) {
        const loc = optString(ref, 'referenceLocator', `${where}.externalRefs[${j}]`) ?? malformed(`${where}.externalRefs[${j}].referenceLocator is missing`);
        parsePurl(loc, `${where} purl`);
        c.purl = loc;
      }
    }
    const licenses = [spdxLicense(optString(p, 'licenseDeclared', where)), spdxLicense(optString(p, 'licenseConcluded', where))].filter(
      (x): x is string => x !== undefined,
    );
    if (licenses.length > 0) c.licenses = [...new Set(licenses)];
    components.push(c);
  }
  const files: SbomFile[] = [];
  for (const [i, raw] of optArray(doc, 'files', 'document').entries()) {
    count.file();
    const where = `files[${i}]`;
    const f = obj(raw, where);
    const file: SbomFile = { name: optString(f, 'fileName', where) ?? malformed(`${where}.fileName is missing`) };
    for (const [j, cr] of optArray(f, 'checksums', where).entries()) {
      const ck = obj(cr, `${where}.checksums[${j}]`);
      const alg = optString(ck, 'algorithm', `${where}.checksums[${j}]`);
      const value = optString(ck, 'checksumValue', `${where}.checksums[${j}]`);
      if (value === undefined) continue;
      if (alg === 'SHA256') file.sha256 = digest(value, 32, `${where} SHA256`);
      else if (alg === 'SHA1') file.sha1 = digest(value, 20, `${where} SHA1`);
    }
    files.push(file);
  }
  return { format: 'spdx', specVersion, components, files };
}

/** CycloneDX 1.6 licenseChoice: `{license: {id|name}}` or `{expression}`. */
function cdxLicenses(c: JsonObject, where: string): string[] {
  const out: string[] = [];
  for (const [i, raw] of optArray(c, 'licenses', where).entries()) {
    const l = obj(raw, `${where}.licenses[${i}]`);
    const expr = optString(l, 'expression', `${where}.licenses[${i}]`);
    if (expr !== undefined) out.push(expr);
    if (l.license !== undefined) {
      const lic = obj(l.license, `${where}.licenses[${i}].license`);
      const id = optString(lic, 'id', `${where}.licenses[${i}].license`) ?? optString(lic, 'name', `${where}.licenses[${i}].license`);
      if (id !== undefined) out.push(id);
    }
  }
  return out;
}

function readCycloneDx(doc: JsonObject, specVersion: string): SbomComponents {
  const count = new Counter();
  const components: SbomComponent[] = [];
  const files: SbomFile[] = [];
  // Iterative walk: nesting is bounded by SBOM_MAX_NESTING, never by the JS stack.
  const stack: Array<{ list: JsonValue[]; where: string; depth: number }> = [{ list: optArray(doc, 'components', 'document'), where: 'components', depth: 1 }];
  while (stack.length > 0) {
    const { list, where: base, depth } = stack.pop()!;
    if (depth > SBOM_MAX_NESTING) {
      throw new LimitError('ERR_LIMIT_DEPTH', `sbom: components nest deeper than ${SBOM_MAX_NESTING} levels`, { details: { cap: SBOM_MAX_NESTING } });
    }
    const nested: Array<{ list: JsonValue[]; where: string; depth: number }> = [];
    for (const [i, raw] of list.entries()) {
      const where = `${base}[${i}]`;
      const c = obj(raw, where);
      const name = optString(c, 'name', where) ?? malformed(`${where}.name is missing`);
      if (optString(c, 'type', where) === 'file') {
        count.file();
        const f: SbomFile = { name };
        for (const [j, hr] of optArray(c, 'hashes', where).entries()) {
          const h = obj(hr, `${where}.hashes[${j}]`);
          const alg = optString(h, 'alg', `${where}.hashes[${j}]`);
          const content = optString(h, 'content', `${where}.hashes[${j}]`);
          if (content === undefined) continue;
          if (alg === 'SHA-256') f.sha256 = digest(content, 32, `${where} SHA-256`);
          else if (alg === 'SHA-1') f.sha1 = digest(content, 20, `${where} SHA-1`);
        }
        files.push(f);
      } else {
        count.component();
        const out: SbomComponent = { name };
        const version = optString(c, 'version', where);
        if (version !== undefined) out.version = version;
        const purl = optString(c, 'purl', where);
        if (purl !== undefined) {
          parsePurl(purl, `${where}.purl`);
          out.purl = purl;
        }
        const licenses = cdxLicenses(c, where);
        if (licenses.length > 0) out.licenses = licenses;
        components.push(out);
      }
      const children = optArray(c, 'components', where);
      if (children.length > 0) nested.push({ list: children, where: `${where}.components`, depth: depth + 1 });
    }
    // Document order: children of the first component are read before its later siblings' children.
    stack.push(...nested.reverse());
  }
  // The metadata.component describes the subject itself; it is not one of its dependencies and is not listed.
  return { format: 'cyclonedx', specVersion, components, files };
}

/**
 * readSbomComponents parses an SPDX 2.3 or CycloneDX 1.4–1.6 JSON document under the caps of the module doc and
 * returns its components (name, version, purl, licenses) and files (name, sha256, sha1), in document order.
 *
 * @example
 * const sbom = readSbomComponents(await readFile('app.spdx.json'));
 * for (const c of sbom.components) if (c.purl) console.log(c.purl);
 */
export function readSbomComponents(bytes: Uint8Array): SbomComponents {
  const doc = parseJsonObject(bytes, {
    maxBytes: SBOM_MAX_BYTES,
    maxDepth: SBOM_MAX_JSON_DEPTH,
    maxValues: SBOM_MAX_JSON_VALUES,
    allowFloats: true,
    what: 'sbom',
  });
  if (doc.spdxVersion !== undefined) {
    const v = doc.spdxVersion;
    if (typeof v !== 'string' || !SPDX_VERSIONS.has(v)) {
      throw new FormatError('ERR_SBOM_READ_UNKNOWN_FORMAT', `sbom: spdxVersion ${JSON.stringify(v)} is not one custody reads (SPDX-2.2, SPDX-2.3)`);
    }
    return readSpdx(doc, v);
  }
  if (doc.bomFormat === 'CycloneDX') {
    const v = doc.specVersion;
    if (typeof v !== 'string' || !CYCLONEDX_VERSIONS.has(v)) {
      throw new FormatError('ERR_SBOM_READ_UNKNOWN_FORMAT', `sbom: cyclonedx specVersion ${JSON.stringify(v)} is not one custody reads (1.4, 1.5, 1.6)`);
    }
    return readCycloneDx(doc, v);
  }
  throw new FormatError('ERR_SBOM_READ_UNKNOWN_FORMAT', 'sbom: neither spdxVersion (SPDX) nor bomFormat "CycloneDX" is present');
}

/** looksLikeSbom tells whether a parsed-able JSON head names an SBOM format (for kind detection; no full parse). */
export function looksLikeSbom(head: Uint8Array): boolean {
  const s = Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('utf8');
  return /^\s*\{/.test(s) && (/"spdxVersion"\s*:/.test(s) || /"bomFormat"\s*:\s*"CycloneDX"/.test(s));
}
