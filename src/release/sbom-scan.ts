/**
 * release/sbom-scan — the vulnerability evidence of the policy gate: the SBOMs that verified attestations carry for
 * an artifact (an in-toto predicate that is an SPDX 2.2/2.3 document — `spdxVersion` — or a CycloneDX 1.4–1.6 BOM —
 * `bomFormat: "CycloneDX"`, whatever its predicateType URI) are read with sbom/read and their components matched
 * against the offline OSV database (vuln/scan). The result is the plain summary `max_severity` judges
 * (policy/evaluate `ScanSummary`). Only attestations naming the artifact's SHA-256 count.
 */
import type { VerifiedAttestation } from '../attest/verify.ts';
import type { ScanSummary } from '../policy/evaluate.ts';
import { readSbomComponents } from '../sbom/read.ts';
import type { VulnDb } from '../vuln/db.ts';
import { scanComponents, severityRank, type Severity } from '../vuln/scan.ts';

/** isSbomPredicate tells whether a predicate is an SBOM document custody reads. */
export function isSbomPredicate(a: VerifiedAttestation): boolean {
  const p = a.statement.predicate;
  return typeof p.spdxVersion === 'string' || p.bomFormat === 'CycloneDX';
}

/**
 * scanAttestedSboms scans every SBOM attestation of the artifact `sha256`; undefined when there is none (then no
 * scan was possible and `max_severity` refuses). A malformed SBOM throws its coded error (bad evidence).
 */
export function scanAttestedSboms(db: VulnDb, attestations: readonly VerifiedAttestation[], sha256: string, onWarning?: (message: string) => void): ScanSummary | undefined {
  const sboms = attestations.filter((a) => isSbomPredicate(a) && a.statement.subject.some((s) => s.digest['sha256'] === sha256));
  if (sboms.length === 0) return undefined;
  let max: Severity = 'none';
  let findings = 0;
  for (const a of sboms) {
    const { components } = readSbomComponents(Buffer.from(JSON.stringify(a.statement.predicate), 'utf8'));
    const r = scanComponents(db, components, onWarning === undefined ? {} : { onWarning });
    findings += r.findings.length;
    if (severityRank(r.maxSeverity) > severityRank(max)) max = r.maxSeverity;
  }
  return { maxSeverity: max, findings };
}
