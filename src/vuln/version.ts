/**
 * vuln/version — version orderings for evaluating OSV ranges (OSV schema 1.6, "affected[].ranges[].type"):
 * - `SEMVER` ranges, and `ECOSYSTEM` ranges of npm (npm orders versions with node-semver), use SemVer 2.0.0 §11
 *   precedence through the `semver` package (a leading "v", as Go module versions carry it, is dropped);
 * - `ECOSYSTEM` ranges of Debian and Ubuntu use dpkg's ordering ({@link compareDpkg}, Debian Policy §5.6.12:
 *   epoch, upstream version, revision; letters before other characters, "~" before everything, even the end);
 * - every other `ECOSYSTEM` range uses {@link compareGeneric}, a documented approximation (docs/attestations.md):
 *   versions are split into runs of digits and runs of letters (every other character separates); runs compare
 *   pairwise, numbers numerically, letters case-insensitively, a number above letters ("1.0.1" > "1.0.rc1"); a
 *   missing number counts as 0 ("1.0" = "1.0.0"); when one version runs out where the other continues with a
 *   word, it is the greater one if that word is a pre-release word (alpha, beta, rc, dev, pre, preview, snapshot,
 *   a, b, c, m, "~") and the smaller one otherwise ("1.0rc1" < "1.0" < "1.0.1" < "1.0.1.post1").
 *   This agrees with PEP 440, Maven, RubyGems and Cargo on ordinary release numbers; it is not rpm's or apk's
 *   algorithm, and epochs ("1:2.0") are compared as a first number.
 *
 * `GIT` ranges are not evaluated (they need the repository's commit graph); OSV requires `versions[]` beside them.
 */
import semver from 'semver';

/** VersionOrder compares two versions: negative, zero or positive; undefined when a version cannot be ordered. */
export type VersionOrder = (a: string, b: string) => number | undefined;

function semverOf(v: string): semver.SemVer | undefined {
  const s = v.startsWith('v') ? v.slice(1) : v;
  if (s.length > 256) return undefined;
  return semver.parse(s) ?? undefined;
}

/** compareSemver orders by SemVer 2.0.0 §11; undefined if either side is not a valid SemVer. */
export const compareSemver: VersionOrder = (a, b) => {
  const x = semverOf(a);
  const y = semverOf(b);
  return x && y ? semver.compare(x, y) : undefined;
};

const PRE_RELEASE = new Set(['alpha', 'beta', 'rc', 'dev', 'pre', 'preview', 'snapshot', 'a', 'b', 'c', 'm', '~']);

function tokens(v: string): string[] {
  return v.toLowerCase().match(/[0-9]+|[a-z]+|~/g) ?? [];
}

function compareNumeric(a: string, b: string): number {
  const x = a.replace(/^0+(?=.)/, '');
  const y = b.replace(/^0+(?=.)/, '');
  return x.length !== y.length ? x.length - y.length : x < y ? -1 : x > y ? 1 : 0;
}

/** compareGeneric is the approximate ordering of the module doc; every string can be ordered. */
export const compareGeneric: VersionOrder = (a, b) => {
  if (a === b) return 0;
  const x = tokens(a.slice(0, 256));
  const y = tokens(b.slice(0, 256));
  const isNum = (t: string): boolean => /^[0-9]/.test(t);
  for (let i = 0; ; i++) {
    const s = x[i];
    const t = y[i];
    if (s === undefined && t === undefined) return 0;
    // A missing number is 0 ("1.0" = "1.0.0"); a missing word ends the shorter version.
    if (s === undefined) {
      if (isNum(t!)) {
        const c = compareNumeric('0', t!);
        if (c !== 0) return c;
        continue;
      }
      return PRE_RELEASE.has(t!) ? 1 : -1;
    }
    if (t === undefined) {
      if (isNum(s)) {
        const c = compareNumeric(s, '0');
        if (c !== 0) return c;
        continue;
      }
      return PRE_RELEASE.has(s) ? -1 : 1;
    }
    if (s === '~' || t === '~') {
      if (s !== t) return s === '~' ? -1 : 1;
      continue;
    }
    const ns = isNum(s);
    const nt = isNum(t);
    if (ns && nt) {
      const c = compareNumeric(s, t);
      if (c !== 0) return c;
    } else if (ns !== nt) return ns ? 1 : -1;
    else if (s !== t) return s < t ? -1 : 1;
  }
};

/** Debian Policy §5.6.12: the sort weight of one character of a non-digit part ("~" lowest, then the end). */
function dpkgWeight(c: string | undefined): number {
  if (c === undefined || (c >= '0' && c <= '9')) return 0;
  if (c === '~') return -1;
  const code = c.charCodeAt(0);
  return /[A-Za-z]/.test(c) ? code : code + 256;
}

/** dpkgPart compares an upstream version or a revision: alternating non-digit and digit parts. */
function dpkgPart(a: string, b: string): number {
  const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const x = dpkgWeight(a[i]);
      const y = dpkgWeight(b[j]);
      if (x !== y) return x - y;
      i++;
      j++;
    }
    const si = i;
    while (isDigit(a[i])) i++;
    const sj = j;
    while (isDigit(b[j])) j++;
    const c = compareNumeric(a.slice(si, i) || '0', b.slice(sj, j) || '0');
    if (c !== 0) return c;
  }
  return 0;
}

function splitDpkg(v: string): [string, string, string] {
  const colon = v.indexOf(':');
  const hasEpoch = colon > 0 && /^[0-9]+$/.test(v.slice(0, colon));
  const epoch = hasEpoch ? v.slice(0, colon) : '0';
  const rest = hasEpoch ? v.slice(colon + 1) : v;
  // The revision follows the LAST hyphen; without one it is empty (which sorts as "0").
  const dash = rest.lastIndexOf('-');
  return dash < 0 ? [epoch, rest, ''] : [epoch, rest.slice(0, dash), rest.slice(dash + 1)];
}

/** compareDpkg orders Debian package versions as dpkg does ([epoch:]upstream[-revision], Debian Policy §5.6.12). */
export const compareDpkg: VersionOrder = (a, b) => {
  if (a.length > 256 || b.length > 256) return undefined;
  const [ea, ua, ra] = splitDpkg(a);
  const [eb, ub, rb] = splitDpkg(b);
  return compareNumeric(ea, eb) || dpkgPart(ua, ub) || dpkgPart(ra, rb);
};

/** orderFor picks the ordering of a range: SEMVER → SemVer; ECOSYSTEM → SemVer for npm, dpkg for Debian/Ubuntu, generic otherwise. */
export function orderFor(rangeType: 'SEMVER' | 'ECOSYSTEM', ecosystem: string): VersionOrder {
  if (rangeType === 'SEMVER' || ecosystem === 'npm') return compareSemver;
  if (ecosystem === 'Debian' || ecosystem === 'Ubuntu') return compareDpkg;
  return compareGeneric;
}
