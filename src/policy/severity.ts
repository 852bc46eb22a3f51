/**
 * policy/severity — vulnerability severities as the policy gate orders them (the OSV/CVSS qualitative scale:
 * none < low < medium < high < critical), with `unknown` — a finding without a usable score — ranked above
 * `critical`, so an unscored advisory never slips under a gate.
 */

/** SEVERITIES in increasing order. */
export const SEVERITIES = ['none', 'low', 'medium', 'high', 'critical', 'unknown'] as const;
export type Severity = (typeof SEVERITIES)[number];
