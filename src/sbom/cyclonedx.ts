/**
 * sbom/cyclonedx — CycloneDX 1.6 JSON BOMs (cyclonedx.org/docs/1.6/json) from a collected {@link SbomInput}, built
 * with the CycloneDX project's own library (@cyclonedx/cyclonedx-library: its models, its 1.6 JSON normalizer and
 * serializer), so field names, enums and ordering rules are theirs, not ours.
 *
 * Shape: `metadata.component` is what is described, type `application` (the tree; the root project of a lockfile;
 * the PSPF package with the SHA-1/SHA-256 of the .psp file); `components` are the files (type `file`,
 * SHA-1 + SHA-256) or the installed npm packages (type `library`, group = scope, purl, hashes from SRI integrity,
 * licenses as declared, the `resolved` URL as a `distribution` reference, `cdx:npm:package:development` and
 * `cdx:npm:package:path` from the CycloneDX npm property taxonomy, the peer and devOptional flags as `custody:npm:*`
 * properties, optional packages in scope `optional`); `dependencies` are the
 * lockfile's edges. bom-refs are `file:<name>` and the purl (suffixed with the lockfile path when one purl is
 * installed at several paths).
 *
 * Licenses: a single SPDX id → `license.id`; a compound valid expression → `expression`; anything else →
 * `license.name` with the declared text (CycloneDX allows free names, so nothing needs inventing).
 *
 * Determinism: lists sorted by the serializer (`sortLists`), `metadata.timestamp` from the caller
 * (SOURCE_DATE_EPOCH), and `serialNumber` = `urn:uuid:<v5 UUID named by the SHA-256 of the BOM serialized without
 * it>`, so the same input and epoch give the same bytes.
 */
import { Enums, Models, Serialize, Spec } from '@cyclonedx/cyclonedx-library';
import { CUSTODY_VERSION } from '../version.ts';
import type { SbomInput, SbomPackage } from './collect.ts';
import { SBOM_MAX_OUTPUT_BYTES, capText, contentUuid } from './ids.ts';
import { isSpdxExpression, type SbomOptions } from './spdx.ts';

const HASH_ALG: Readonly<Record<string, Enums.HashAlgorithm>> = {
  sha1: Enums.HashAlgorithm['SHA-1'],
  sha256: Enums.HashAlgorithm['SHA-256'],
  sha384: Enums.HashAlgorithm['SHA-384'],
  sha512: Enums.HashAlgorithm['SHA-512'],
};

function hashes(d: Record<string, string>): Models.HashDictionary {
  const h = new Models.HashDictionary();
  for (const [alg, hex] of Object.entries(d)) {
    const a = HASH_ALG[alg];
    if (a !== undefined) h.set(a, hex);
  }
  return h;
}

function licenses(declared: string | undefined): Models.LicenseRepository {
  const r = new Models.LicenseRepository();
  if (declared === undefined) return r;
  if (isSpdxExpression(declared)) {
    // A lone id (no operator, no "+") is a license id; anything compound is an expression.
    if (/^[A-Za-z0-9.-]+$/.test(declared)) r.add(new Models.SpdxLicense(declared));
    else r.add(new Models.LicenseExpression(declared));
  } else {
    r.add(new Models.NamedLicense(declared));
  }
  return r;
}

function npmComponent(p: SbomPackage, bomRef: string, type: Enums.ComponentType): Models.Component {
  const slash = p.name.indexOf('/');
  const scoped = p.name.startsWith('@') && slash > 0;
  const props = new Models.PropertyRepository();
  if (p.dev) props.add(new Models.Property('cdx:npm:package:development', 'true'));
  // The cdx:npm taxonomy (CycloneDX/cyclonedx-property-taxonomy cdx/npm.md) has no names for these two npm flags;
  // the cdx namespace is registered, so they go under our own.
  if (p.peer) props.add(new Models.Property('custody:npm:peer', 'true'));
  if (p.devOptional) props.add(new Models.Property('custody:npm:devOptional', 'true'));
  if (p.key !== '') props.add(new Models.Property('cdx:npm:package:path', p.key));
  const refs = new Models.ExternalReferenceRepository();
  if (p.resolved !== undefined && /^(https?|git(\+[a-z]+)?):\/\/\S+$/.test(p.resolved)) {
    refs.add(new Models.ExternalReference(p.resolved, Enums.ExternalReferenceType.Distribution, { comment: 'as "resolved" in the lockfile' }));
  }
  return new Models.Component(type, scoped ? p.name.slice(slash + 1) : p.name, {
    bomRef,
    ...(scoped ? { group: p.name.slice(0, slash) } : {}),
    ...(p.version === undefined ? {} : { version: p.version }),
    ...(p.purl === undefined ? {} : { purl: p.purl }),
    hashes: hashes(p.integrity),
    licenses: licenses(p.license),
    externalReferences: refs,
    properties: props,
    ...(p.optional ? { scope: Enums.ComponentScope.Optional } : {}),
  });
}

/** toCycloneDx builds the library's BOM model for a collected input (serialNumber unset; see formatCycloneDx). */
export function toCycloneDx(input: SbomInput, options: SbomOptions): Models.Bom {
  const name = options.name ?? (input.name !== '' ? input.name : input.kind === 'npm-lockfile' ? 'project' : 'sbom');
  const bom = new Models.Bom();
  bom.metadata.timestamp = options.created;
  bom.metadata.tools.components.add(
    new Models.Component(Enums.ComponentType.Application, 'custody', { version: CUSTODY_VERSION, bomRef: 'tool:custody' }),
  );
  let root: Models.Component;
  if (input.kind === 'npm-lockfile') {
    root = npmComponent({ ...input.root!, name }, 'root', Enums.ComponentType.Application);
    const purlCount = new Map<string, number>();
    for (const p of input.packages) purlCount.set(p.purl!, (purlCount.get(p.purl!) ?? 0) + 1);
    const byKey = new Map<string, Models.Component>([['', root]]);
    for (const p of input.packages) {
      const ref = purlCount.get(p.purl!)! > 1 ? `${p.purl!}#${p.key}` : p.purl!;
      const c = npmComponent(p, ref, Enums.ComponentType.Library);
      byKey.set(p.key, c);
      bom.components.add(c);
    }
    for (const p of [input.root!, ...input.packages]) {
      const from = byKey.get(p.key)!;
      for (const d of p.dependencies) from.dependencies.add(byKey.get(d.key)!.bomRef);
    }
  } else {
    // A tree and a package are both described as the application they ship (CycloneDX has no "directory" type).
    root = new Models.Component(Enums.ComponentType.Application, name, {
      bomRef: 'root',
      ...(input.version === undefined ? {} : { version: input.version }),
      ...(input.source ? { hashes: hashes({ sha1: input.source.sha1, sha256: input.source.sha256 }) } : {}),
      ...(input.kind === 'pspf' ? { description: 'PSPF/2025 package: structure, signature and every stored byte verified (the signer was not judged)' } : {}),
    });
    for (const f of input.files) {
      const c = new Models.Component(Enums.ComponentType.File, f.name, {
        bomRef: `file:${f.name}`,
        hashes: hashes({ sha1: f.sha1, sha256: f.sha256 }),
        ...(f.comment === undefined ? {} : { description: f.comment }),
      });
      bom.components.add(c);
    }
  }
  if (input.kind === 'npm-lockfile' && input.source) {
    root.properties.add(new Models.Property('custody:lockfile', `${input.source.name} sha256:${input.source.sha256}`));
  }
  bom.metadata.component = root;
  return bom;
}

/**
 * formatCycloneDx renders the finished CycloneDX 1.6 JSON text: deterministic for the same input and `created`,
 * capped at `maxBytes` (ERR_SBOM_OUTPUT_LIMIT).
 */
export function formatCycloneDx(input: SbomInput, options: SbomOptions): string {
  const max = options.maxBytes ?? SBOM_MAX_OUTPUT_BYTES;
  const bom = toCycloneDx(input, options);
  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6));
  const render = (): string => capText(serializer.serialize(bom, { sortLists: true, space: 2 }) + '\n', max, 'CycloneDX BOM');
  bom.serialNumber = `urn:uuid:${contentUuid('cyclonedx-1.6', render())}`;
  return render();
}
