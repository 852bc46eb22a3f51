/**
 * sbom/spdx — SPDX 2.3 JSON documents (spdx.github.io/spdx-spec/v2.3; schema spdx-spec support/2.3
 * schemas/spdx-schema.json) from a collected {@link SbomInput}.
 *
 * Shape, per input kind (every file has SHA1 and SHA256 checksums; a file's licenseConcluded, licenseInfoInFiles
 * and copyrightText are omitted, which SPDX 2.3 §8.5–8.8 defines as NOASSERTION: Custody concludes nothing about
 * licenses, and for a tree of 10,000 files the three fields would be a third of the document):
 * - directory: one package (the tree, filesAnalyzed true with its packageVerificationCode, §7.9) that CONTAINS
 *   every file; the document DESCRIBES the package.
 * - PSPF package: one package (signed name and version, checksums of the .psp file) that CONTAINS the launcher and
 *   each slot's stored bytes.
 * - npm lockfile: the root project DESCRIBED; the lockfile itself a file, DEPENDENCY_MANIFEST_OF the root; every
 *   installed package with its purl (externalRefs PACKAGE-MANAGER/purl), checksums from its SRI integrity (sha512 →
 *   SHA512 hex), downloadLocation from `resolved` (http(s) and git URLs; NOASSERTION otherwise) and licenseDeclared
 *   as declared; edges DEPENDS_ON (prod, peer), DEV_DEPENDENCY_OF and OPTIONAL_DEPENDENCY_OF (pointing the other
 *   way, as SPDX defines them). npm's dev/optional/devOptional/peer flags are kept in the package comment.
 *
 * Licenses: a declared license that is a valid SPDX license expression (Annex D: ids from the SPDX license list,
 * `+`, WITH, AND, OR, parentheses; operators in upper case) is written as is. Anything else (npm's "UNLICENSED",
 * "SEE LICENSE IN …", lower-case operators, user LicenseRefs we have no text for) becomes a
 * `LicenseRef-<text>-<hash>` defined in hasExtractedLicensingInfos with the declared text verbatim, so nothing
 * declared is lost and the document stays valid. Absent → NOASSERTION.
 *
 * Determinism: ids derive from names and paths in sorted order (a `-2` suffix only where two names sanitize alike),
 * never from time; documentNamespace is
 * `https://custody.invalid/spdx/<name>-<uuid>` where the UUID (v5) is named by the SHA-256 of the document rendered
 * with an empty namespace. `.invalid` (RFC 2606) says honestly that the URI resolves nowhere. `created` comes from
 * the caller (SOURCE_DATE_EPOCH in the CLI), so the same input and epoch give the same bytes.
 */
import { fixupSpdxId, isSupportedSpdxId } from '@cyclonedx/cyclonedx-library/SPDX';
import { createDigest } from '../crypto/index.ts';
import { encodeHex } from '../encoding/bytes.ts';
import type { JsonObject } from '../encoding/json.ts';
import { CUSTODY_VERSION } from '../version.ts';
import type { DependencyKind, SbomFile, SbomInput } from './collect.ts';
import { SBOM_MAX_OUTPUT_BYTES, capText, contentUuid, idPart, isoSeconds, shortHash, stringifyCapped } from './ids.ts';

export const SPDX_VERSION = 'SPDX-2.3';
/** SPDX_NAMESPACE_BASE: where Custody's documentNamespace URIs live (an .invalid host: they resolve nowhere). */
export const SPDX_NAMESPACE_BASE = 'https://custody.invalid/spdx/';

export interface SbomOptions {
  /** created: the creation time (SOURCE_DATE_EPOCH or now, see sbomCreated). */
  created: Date;
  /** name overrides the document's (and the described root's) name. */
  name?: string | undefined;
  /** maxBytes caps the rendered document (default SBOM_MAX_OUTPUT_BYTES). */
  maxBytes?: number | undefined;
}

const NOASSERTION = 'NOASSERTION';
const SRI_TO_SPDX: Readonly<Record<string, string>> = { sha1: 'SHA1', sha256: 'SHA256', sha384: 'SHA384', sha512: 'SHA512' };

// ---------------------------------------------------------------------------------------------------------------
// SPDX license expressions (SPDX 2.3 Annex D)

/** MAX_EXPRESSION_DEPTH bounds parenthesis nesting, so a hostile expression cannot exhaust the stack. */
const MAX_EXPRESSION_DEPTH = 32;

/**
 * isSpdxExpression tells whether `text` is a license expression under SPDX 2.3 Annex D whose license ids are all on
 * the SPDX license list (case-insensitive, as D.2 allows). LicenseRef and DocumentRef terms are refused here: the
 * document would have to define their text, which a lockfile does not carry.
 */
export function isSpdxExpression(text: string): boolean {
  const tokens = text.match(/\(|\)|[^\s()]+/g);
  if (!tokens || tokens.join('').length !== text.replace(/\s+/g, '').length) return false;
  let i = 0;
  const peek = (): string | undefined => tokens[i];
  const simple = (): boolean => {
    const t = tokens[i++];
    if (t === undefined || t === 'AND' || t === 'OR' || t === 'WITH' || t === '(' || t === ')') return false;
    const id = t.endsWith('+') ? t.slice(0, -1) : t;
    return /^[A-Za-z0-9.-]+$/.test(id) && isListedId(id);
  };
  const term = (depth: number): boolean => {
    if (peek() === '(') {
      if (depth >= MAX_EXPRESSION_DEPTH) return false;
      i++;
      if (!expr(depth + 1) || tokens[i++] !== ')') return false;
      return true;
    }
    if (!simple()) return false;
    if (peek() === 'WITH') {
      i++;
      const exception = tokens[i++];
      if (exception === undefined || !/^[A-Za-z0-9.-]+$/.test(exception)) return false;
    }
    return true;
  };
  const expr = (depth: number): boolean => {
    if (!term(depth)) return false;
    while (peek() === 'AND' || peek() === 'OR') {
      i++;
      if (!term(depth)) return false;
    }
    return true;
  };
  return expr(0) && i === tokens.length;
}

/** isListedId: on the SPDX license list, compared case-insensitively (Annex D.2). */
function isListedId(id: string): boolean {
  // The library's guard would narrow `id` itself; ask it about a copy.
  const candidate: unknown = id;
  if (isSupportedSpdxId(candidate)) return true;
  const fixed: string | undefined = fixupSpdxId(id);
  return fixed !== undefined && fixed.toLowerCase() === id.toLowerCase();
}

/** licenseRefFor names the LicenseRef Custody writes for a declared license that is not a valid expression. */
export function licenseRefFor(declared: string): string {
  return `LicenseRef-${idPart(declared, 48)}-${shortHash(declared)}`;
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * IdAllocator hands out SPDX element ids: the readable base when free, else `<base>-2`, `-3`, … Inputs arrive
 * sorted, so the same input always gets the same ids (and a name only ever gets a suffix when another name
 * sanitizes to the same characters).
 */
class IdAllocator {
  private readonly used = new Set<string>(['SPDXRef-DOCUMENT']);
  /** next: per base, the suffix to try next; every smaller one is taken (ids are never freed), so the result is
   * the smallest free `-n`, as a plain scan from 2 would give, in linear total time when many names share a base. */
  private readonly next = new Map<string, number>();
  alloc(base: string): string {
    let id = base;
    let n = this.next.get(base) ?? 2;
    if (this.used.has(id)) {
      for (id = `${base}-${n}`; this.used.has(id); ) id = `${base}-${++n}`;
      this.next.set(base, n + 1);
    }
    this.used.add(id);
    return id;
  }
}

function checksums(f: { sha1: string; sha256: string }): JsonObject[] {
  return [
    { algorithm: 'SHA1', checksumValue: f.sha1 },
    { algorithm: 'SHA256', checksumValue: f.sha256 },
  ];
}

function fileElement(f: SbomFile, ids: IdAllocator): JsonObject {
  return {
    SPDXID: ids.alloc(`SPDXRef-File-${idPart(f.name, 1024)}`),
    fileName: `./${f.name}`,
    checksums: checksums(f),
    ...(f.comment === undefined ? {} : { comment: f.comment }),
  };
}

/** verificationCode is SPDX 2.3 §7.9: SHA1 of the sorted, concatenated SHA1 hex digests of the package's files. */
function verificationCode(files: readonly SbomFile[]): string {
  const h = createDigest('sha1');
  h.update(Buffer.from(files.map((f) => f.sha1).sort().join(''), 'ascii'));
  return encodeHex(h.digest());
}

/** downloadLocation keeps `resolved` when it is a URL a tool can fetch (SPDX 2.3 §7.7); NOASSERTION otherwise. */
function downloadLocation(resolved: string | undefined): string {
  if (resolved !== undefined && /^(https?|git(\+[a-z]+)?):\/\/\S+$/.test(resolved)) return resolved;
  return NOASSERTION;
}

/**
 * toSpdx builds the SPDX 2.3 document (as JSON) for a collected input. `documentNamespace` is left empty; call
 * {@link formatSpdx} for the finished, deterministic text.
 */
export function toSpdx(input: SbomInput, options: SbomOptions): JsonObject {
  const name = options.name ?? (input.name !== '' ? input.name : input.kind === 'npm-lockfile' ? 'project' : 'sbom');
  const extracted = new Map<string, string>();
  const license = (declared: string | undefined): string => {
    if (declared === undefined) return NOASSERTION;
    if (isSpdxExpression(declared)) return declared;
    const ref = licenseRefFor(declared);
    extracted.set(ref, declared);
    return ref;
  };
  const ids = new IdAllocator();
  const rootId = ids.alloc(`SPDXRef-Root-${idPart(name)}`);
  const packages: JsonObject[] = [];
  const files: JsonObject[] = [];
  const relationships: JsonObject[] = [{ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: rootId }];

  if (input.kind === 'directory' || input.kind === 'pspf') {
    packages.push({
      SPDXID: rootId,
      name,
      ...(input.version === undefined ? {} : { versionInfo: input.version }),
      ...(input.source ? { packageFileName: input.source.name, checksums: checksums(input.source) } : {}),
      downloadLocation: NOASSERTION,
      filesAnalyzed: true,
      packageVerificationCode: { packageVerificationCodeValue: verificationCode(input.files) },
      licenseConcluded: NOASSERTION,
      licenseDeclared: NOASSERTION,
      licenseInfoFromFiles: [NOASSERTION],
      copyrightText: NOASSERTION,
      primaryPackagePurpose: input.kind === 'pspf' ? 'APPLICATION' : 'SOURCE',
      ...(input.kind === 'pspf'
        ? { comment: 'PSPF/2025 package: structure, signature and every stored byte verified (the signer was not judged); files are the launcher and the stored bytes of each slot' }
        : {}),
    });
    for (const f of input.files) {
      const el = fileElement(f, ids);
      files.push(el);
      relationships.push({ spdxElementId: rootId, relationshipType: 'CONTAINS', relatedSpdxElement: el['SPDXID']! });
    }
  } else {
    const root = input.root!;
    packages.push({
      SPDXID: rootId,
      name,
      ...(root.version === undefined ? {} : { versionInfo: root.version }),
      downloadLocation: NOASSERTION,
      filesAnalyzed: false,
      licenseConcluded: NOASSERTION,
      licenseDeclared: license(root.license),
      copyrightText: NOASSERTION,
      primaryPackagePurpose: 'APPLICATION',
      ...(root.purl === undefined ? {} : { externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: root.purl }] }),
    });
    if (input.source) {
      const lock: SbomFile = { ...input.source, comment: `npm lockfile, lockfileVersion ${input.lockfileVersion ?? '?'}` };
      const el = fileElement(lock, ids);
      files.push(el);
      relationships.push({ spdxElementId: el['SPDXID']!, relationshipType: 'DEPENDENCY_MANIFEST_OF', relatedSpdxElement: rootId });
    }
    const idOf = new Map<string, string>([['', rootId]]);
    for (const p of input.packages) idOf.set(p.key, ids.alloc(`SPDXRef-Package-npm-${idPart(p.name)}-${idPart(p.version ?? 'noversion', 64)}`));
    for (const p of input.packages) {
      const flags = (['dev', 'optional', 'devOptional', 'peer'] as const).filter((k) => p[k]);
      const sums = Object.entries(p.integrity)
        .filter(([alg]) => SRI_TO_SPDX[alg] !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([alg, hex]) => ({ algorithm: SRI_TO_SPDX[alg]!, checksumValue: hex }));
      packages.push({
        SPDXID: idOf.get(p.key)!,
        name: p.name,
        ...(p.version === undefined ? {} : { versionInfo: p.version }),
        downloadLocation: downloadLocation(p.resolved),
        filesAnalyzed: false,
        ...(sums.length > 0 ? { checksums: sums } : {}),
        licenseConcluded: NOASSERTION,
        licenseDeclared: license(p.license),
        copyrightText: NOASSERTION,
        externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: p.purl! }],
        primaryPackagePurpose: 'LIBRARY',
        comment: `npm lockfile entry ${p.key}${flags.length ? `; ${flags.join(', ')}` : ''}`,
      });
    }
    const edge = (from: string, to: string, kind: DependencyKind): JsonObject => {
      if (kind === 'dev') return { spdxElementId: to, relationshipType: 'DEV_DEPENDENCY_OF', relatedSpdxElement: from };
      if (kind === 'optional') return { spdxElementId: to, relationshipType: 'OPTIONAL_DEPENDENCY_OF', relatedSpdxElement: from };
      return { spdxElementId: from, relationshipType: 'DEPENDS_ON', relatedSpdxElement: to };
    };
    for (const p of [root, ...input.packages]) {
      for (const d of p.dependencies) relationships.push(edge(idOf.get(p.key)!, idOf.get(d.key)!, d.kind));
    }
  }

  const doc: JsonObject = {
    spdxVersion: SPDX_VERSION,
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name,
    documentNamespace: '',
    creationInfo: { created: isoSeconds(options.created), creators: [`Tool: custody-${CUSTODY_VERSION}`] },
    packages,
    ...(files.length > 0 ? { files } : {}),
    relationships,
  };
  if (extracted.size > 0) {
    doc['hasExtractedLicensingInfos'] = [...extracted]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([licenseId, text]) => ({
        licenseId,
        name: text,
        extractedText: text,
        comment: 'declared by the package; not a valid SPDX license expression, kept verbatim',
      }));
  }
  return doc;
}

/**
 * formatSpdx renders the finished SPDX 2.3 JSON text: deterministic for the same input and `created`, capped at
 * `maxBytes` (ERR_SBOM_OUTPUT_LIMIT).
 *
 * @example
 * const text = formatSpdx(await collectDirectory('dist'), { created: sbomCreated(process.env.SOURCE_DATE_EPOCH, new Date()) });
 */
function name(doc: JsonObject): string {
  return typeof doc['name'] === 'string' ? doc['name'] : 'sbom';
}

export function formatSpdx(input: SbomInput, options: SbomOptions): string {
  const max = options.maxBytes ?? SBOM_MAX_OUTPUT_BYTES;
  const doc = toSpdx(input, options);
  const draft = stringifyCapped(doc, max, 'SPDX document');
  // The namespace is the only field that depends on the text; it is the first "documentNamespace" key of the text
  // (top level, before any element), so it is filled in place rather than by rendering the document twice.
  const namespace = `${SPDX_NAMESPACE_BASE}${idPart(name(doc))}-${contentUuid('spdx-2.3', draft)}`;
  const placeholder = '\n  "documentNamespace": "",\n';
  const at = draft.indexOf(placeholder);
  if (at < 0) throw new Error('spdx: documentNamespace placeholder missing');
  return capText(draft.slice(0, at) + `\n  "documentNamespace": ${JSON.stringify(namespace)},\n` + draft.slice(at + placeholder.length), max, 'SPDX document');
}
