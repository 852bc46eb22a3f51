/**
 * vuln — offline vulnerability matching: OSV records (ossf.github.io/osv-schema) imported into SQLite, SBOM
 * components matched by purl and version range, CVSS v3.x base scores. See docs/attestations.md
 * ("Vulnerability database and scan").
 */
export { VULNDB_ENV, VULNDB_SCHEMA_VERSION, VulnDb, defaultVulnDbPath, importOsv, openVulnDb } from './db.ts';
export type { ImportOptions, ImportSummary, StoredVuln, VulnMatchCandidate } from './db.ts';
export { isAffected, scanComponents, severityRank } from './scan.ts';
export type { Finding, ScanOptions, ScanResult, Severity } from './scan.ts';
export { OSV_RECORD_MAX_BYTES, parseOsvRecord } from './osv.ts';
export type { OsvAffected, OsvEvent, OsvRange, OsvRecord, ParsedOsv, ScoredSeverity } from './osv.ts';
export { cvssRating, roundup31, scoreCvss3 } from './cvss.ts';
export type { Cvss3Score, CvssRating } from './cvss.ts';
export { PURL_TYPE_TO_ECOSYSTEM, purlToOsv, releaseMatches } from './ecosystem.ts';
export { compareGeneric, compareSemver } from './version.ts';
