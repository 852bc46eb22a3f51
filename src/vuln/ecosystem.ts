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
 * RELEASE_CODENAMES maps Debian and Ubuntu release codenames (as a purl's `distro` qualifier may name them:
 * "bookworm", "jammy") to the release numbers OSV writes in "Debian:12" and "Ubuntu:22.04".
 */
export const RELEASE_CODENAMES: Readonly<Record<string, string>> = {
  // Debian
  jessie: '8',
  stretch: '9',
  buster: '10',
  bullseye: '11',
  bookworm: '12',
  trixie: '13',
  forky: '14',
  duke: '15',
  // Ubuntu
  xenial: '16.04',
  bionic: '18.04',
  focal: '20.04',
  jammy: '22.04',
  noble: '24.04',
  oracular: '24.10',
  plucky: '25.04',
  questing: '25.10',
};

/**
 * releaseMatches tells whether a record's ecosystem ("Debian:12", "Alpine:v3.18", "npm") applies to a component
 * with the given distro qualifier ("debian-12", "12", "bookworm", "debian-bookworm", "alpine-3.18.4"): an ecosystem
 * without a release, or a component without a distro, always applies; the record's release is the numbered part of
 * its suffix ("22.04" of "Ubuntu:22.04:LTS"); a Debian or Ubuntu codename (alone or after "<distro>-", on either
 * side) stands for its release number ({@link RELEASE_CODENAMES}); otherwise the release (without a leading
 * "v") must appear in the distro as a whole dotted prefix of its version ("3.18" in "alpine-3.18.4", "12" in
 * "debian-12").
 */
export function releaseMatches(recordEcosystem: string, distro: string | undefined): boolean {
  const i = recordEcosystem.indexOf(':');
  if (i < 0 || distro === undefined) return true;
  // "Ubuntu:22.04:LTS", "Ubuntu:Pro:18.04:LTS": the release is the numbered part; a codename stands for its number.
  const parts = recordEcosystem.slice(i + 1).toLowerCase().split(':');
  let release = (parts.find((p) => /^v?[0-9]+(?:\.[0-9]+)*$/.test(p)) ?? parts.join(':')).replace(/^v/, '');
  if (Object.hasOwn(RELEASE_CODENAMES, release)) release = RELEASE_CODENAMES[release]!;
  let d = distro.toLowerCase();
  const codename = /(?:^|-)([a-z]+)$/.exec(d)?.[1];
  if (codename !== undefined && Object.hasOwn(RELEASE_CODENAMES, codename)) d = RELEASE_CODENAMES[codename]!;
  if (d === release) return true;
  const m = /([0-9][0-9.]*)$/.exec(d);
  if (!m) return d.includes(release);
  const ver = m[1]!;
  return ver === release || ver.startsWith(`${release}.`);
}
