/**
 * sbom/purl — Package URLs (purl-spec, github.com/package-url/purl-spec: `pkg:type/namespace/name@version?qualifiers#subpath`)
 * parsed through packageurl-js, with its errors turned into coded ones.
 *
 * Trust boundary: purls come from SBOMs and OSV records, both untrusted; a purl that packageurl-js refuses (or one
 * over PURL_MAX_BYTES) is an ERR_SBOM_READ_MALFORMED FormatError, never a raw exception.
 */
import { PackageURL } from 'packageurl-js';
import { FormatError } from '../errors.ts';

/** PURL_MAX_BYTES caps one purl string (4 KiB: real ones are far shorter). */
export const PURL_MAX_BYTES = 4096;

/** Purl is a parsed Package URL. */
export interface Purl {
  type: string;
  namespace: string | undefined;
  name: string;
  version: string | undefined;
  qualifiers: Readonly<Record<string, string>>;
}

/** parsePurl parses and normalizes a purl (packageurl-js rules: type lowercased, pypi names normalized, …). */
export function parsePurl(s: string, what = 'purl'): Purl {
  if (s.length > PURL_MAX_BYTES) throw new FormatError('ERR_SBOM_READ_MALFORMED', `${what} is longer than ${PURL_MAX_BYTES} characters`);
  let p: PackageURL;
  try {
    p = PackageURL.fromString(s);
  } catch (e) {
    throw new FormatError('ERR_SBOM_READ_MALFORMED', `${what} ${JSON.stringify(s.slice(0, 200))} is not a valid package url`, { cause: e });
  }
  const qualifiers: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.qualifiers ?? {})) if (typeof v === 'string') qualifiers[k] = v;
  return { type: p.type, namespace: p.namespace ?? undefined, name: p.name, version: p.version ?? undefined, qualifiers };
}
