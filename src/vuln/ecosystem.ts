/**
 * vuln/ecosystem — how a Package URL (purl-spec PURL-TYPES) names the same package as an OSV record (OSV schema
 * "Defined ecosystems"): the purl type maps to the OSV ecosystem, namespace and name join the way that ecosystem
 * writes names, and names are normalized where the ecosystem compares them loosely (PyPI: PEP 503; NuGet:
 * case-insensitive).
 *
 * OSV ecosystems may carry a release suffix ("Debian:12", "Alpine:v3.18"); the database indexes the part before the
 * first ":" and {@link releaseMatches} compares the suffix with the purl's `distro` qualifier when both are given.
 */
import type { Purl } from '../sbom/purl.ts';

/** PURL_TYPE_TO_ECOSYSTEM maps purl types to OSV ecosystem names. */
export const PURL_TYPE_TO_ECOSYSTEM: Readonly<Record<string, string>> = {
  npm: 'npm',
  pypi: 'PyPI',
  maven: 'Maven',
  golang: 'Go',
  cargo: 'crates.io',
  gem: 'RubyGems',
  nuget: 'NuGet',
  composer: 'Packagist',
  hex: 'Hex',
  pub: 'Pub',
  hackage: 'Hackage',
  cran: 'CRAN',
  swift: 'SwiftURL',
  github: 'GitHub Actions',
  apk: 'Alpine',
  deb: 'Debian',
};

/** ecosystemBase is the ecosystem without its ":<release>" suffix. */
export function ecosystemBase(ecosystem: string): string {
  const i = ecosystem.indexOf(':');
  return i < 0 ? ecosystem : ecosystem.slice(0, i);
}

/** normalizeName is the form names are indexed and compared in, per ecosystem. */
export function normalizeName(ecosystemBaseName: string, name: string): string {
  switch (ecosystemBaseName) {
    case 'PyPI':
      // PEP 503: runs of -, _ and . are one "-", case-insensitive.
      return name.toLowerCase().replace(/[-_.]+/g, '-');
    case 'NuGet':
      return name.toLowerCase();
    default:
      return name;
  }
}

/** OsvPackageRef is a component as OSV names it. */
export interface OsvPackageRef {
  /** ecosystem: the base ecosystem ("Debian", not "Debian:12"). */
  ecosystem: string;
  name: string;
  /** version as OSV ranges compare it (Go: without the leading "v"). */
  version: string | undefined;
  /** distro: the purl's distro qualifier, for release-scoped ecosystems. */
  distro: string | undefined;
}

/** purlToOsv maps a parsed purl to its OSV ecosystem and name; undefined for types OSV has no ecosystem for. */
export function purlToOsv(p: Purl): OsvPackageRef | undefined {
  let ecosystem = PURL_TYPE_TO_ECOSYSTEM[p.type];
  if (p.type === 'deb' && p.namespace === 'ubuntu') ecosystem = 'Ubuntu';
  if (ecosystem === undefined) return undefined;
  let name: string;
  switch (p.type) {
    case 'maven':
      name = p.namespace ? `${p.namespace}:${p.name}` : p.name;
      break;
    case 'npm':
    case 'golang':
    case 'composer':
    case 'github':
    case 'swift':
      name = p.namespace ? `${p.namespace}/${p.name}` : p.name;
      break;
    default:
      name = p.name;
  }
  let version = p.version;
  if (p.type === 'golang' && version?.startsWith('v')) version = version.slice(1);
  return { ecosystem, name: normalizeName(ecosystem, name), version, distro: p.qualifiers.distro };
}

/**
 * releaseMatches tells whether a record's ecosystem ("Debian:12", "Alpine:v3.18", "npm") applies to a component
 * with the given distro qualifier ("debian-12", "bookworm", "alpine-3.18.4"): an ecosystem without a release, or a
 * component without a distro, always applies; otherwise the release (without a leading "v") must appear in the
 * distro as a whole dotted prefix of its version ("3.18" in "alpine-3.18.4", "12" in "debian-12").
 */
export function releaseMatches(recordEcosystem: string, distro: string | undefined): boolean {
  const i = recordEcosystem.indexOf(':');
  if (i < 0 || distro === undefined) return true;
  const release = recordEcosystem.slice(i + 1).replace(/^v/, '').toLowerCase();
  const d = distro.toLowerCase();
  if (d === release) return true;
  const m = /([0-9][0-9.]*)$/.exec(d);
  if (!m) return d.includes(release);
  const ver = m[1]!;
  return ver === release || ver.startsWith(`${release}.`);
}
