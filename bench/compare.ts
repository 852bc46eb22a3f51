/**
 * bench/compare — bench/compare.md, the first figure a user looks at: one table of every headline ratio of issue 9
 * and its target, ✅/❌, from the figures the sections record (`ctx.record(id, value, note)`, bench/types.ts).
 *
 * Figures persist in bench/figures.json (merged by id), so `npm run bench -- --only NAME` updates its own rows and
 * keeps the others with their dates. Quick runs write neither file.
 *
 * Ids a section records (the section that owns each in brackets):
 *   crypto.sha256.ratio  crypto.blake3.ratio  crypto.ed25519.ratio.min  [crypto]
 *   cli.coldstart.ratio  [cli]
 *   tlog.appends64.rate  tlog.appends64.p99ms  [tlog]
 *   provider.manifest.ratio  provider.artifact4k.ratio  provider.artifact1m.ratio  provider.fetch.ratio  [provider]
 *   provider.memory.rss1000.mib  [provider or its memory section]
 *   sums.check.ratio  [sums]
 *   attest.verify.ratio.1core  attest.verify.ratio.allcores  [attest]
 *   sbom.tree10k.ratio  [sbom]
 *   signing-api-verify-rps  signing-api-sign-rps (the latter shown in RESULTS.md only: no target)  [signing-api]
 *   install.ratio  [install]
 */

/** Figure is one row: how to judge and show a recorded value. */
export interface Figure {
  id: string;
  label: string;
  /** 'min': value ≥ target meets it; 'max': value ≤ target meets it. */
  kind: 'min' | 'max';
  target: number;
  unit: 'ratio' | '/s' | 'ms' | 'MiB' | 'KiB';
}

export const FIGURES: readonly Figure[] = [
  { id: 'provider.manifest.ratio', label: 'manifest.json req/s vs nginx (wrk -t2 -c64)', kind: 'min', target: 1.0, unit: 'ratio' },
  { id: 'provider.artifact4k.ratio', label: '4 KiB artifact req/s vs nginx', kind: 'min', target: 0.9, unit: 'ratio' },
  { id: 'provider.artifact1m.ratio', label: '1 MiB artifact MiB/s vs nginx sendfile', kind: 'min', target: 0.8, unit: 'ratio' },
  { id: 'tlog.appends64.rate', label: 'durable log appends/s over HTTP, 64 clients', kind: 'min', target: 10_000, unit: '/s' },
  { id: 'tlog.appends64.p99ms', label: 'durable log append p99, 64 clients', kind: 'max', target: 50, unit: 'ms' },
  { id: 'crypto.sha256.ratio', label: 'SHA-256 of 1 GiB vs `openssl dgst -sha256`', kind: 'min', target: 0.95, unit: 'ratio' },
  { id: 'crypto.blake3.ratio', label: 'BLAKE3 of 1 GiB vs `b3sum`', kind: 'min', target: 0.8, unit: 'ratio' },
  { id: 'provider.fetch.ratio', label: '`custody fetch` 256 MiB vs `curl -o` + `sha256sum` (throughput)', kind: 'min', target: 1.5, unit: 'ratio' },
  { id: 'cli.coldstart.ratio', label: 'CLI cold start: `custody verify` of a small manifest vs `node -e 0` (wall)', kind: 'max', target: 1.5, unit: 'ratio' },
  { id: 'crypto.ed25519.ratio.min', label: 'Ed25519 verify/s, all cores vs `openssl speed -multi N` (worst of 5 runs)', kind: 'min', target: 1.0, unit: 'ratio' },
  { id: 'provider.memory.rss1000.mib', label: 'daemon RSS serving 1,000 concurrent downloads of 1 GiB', kind: 'max', target: 300, unit: 'MiB' },
  { id: 'sums.check.ratio', label: '`custody sums check` vs `sha256sum -c`, 1 GiB in 16 files (wall time, ours / theirs)', kind: 'max', target: 1.0, unit: 'ratio' },
  { id: 'attest.verify.ratio.1core', label: 'SLSA provenance attestations verified/s vs raw Ed25519 verify/s, 1 core', kind: 'min', target: 0.8, unit: 'ratio' },
  { id: 'attest.verify.ratio.allcores', label: 'SLSA provenance attestations verified/s vs raw Ed25519 verify/s, all cores', kind: 'min', target: 0.8, unit: 'ratio' },
  { id: 'sbom.tree10k.ratio', label: '`custody sbom` SPDX of a 10,000-file tree vs `find -exec sha256sum {} +` (wall)', kind: 'max', target: 1.2, unit: 'ratio' },
  { id: 'signing-api-verify-rps', label: 'signing API: authenticated POST /v1/verify requests/s (wrk -t2 -c32, limits off)', kind: 'min', target: 10_000, unit: '/s' },
  { id: 'install.ratio', label: '`custody install` 256 MiB (verified, fsync, switch) vs `curl -o` + `sha256sum` + `mv` (wall, ours / theirs)', kind: 'max', target: 1.2, unit: 'ratio' },
  { id: 'dashboard.pageweight.kib', label: 'dashboard: gzip size of all /ui/ assets', kind: 'max', target: 150, unit: 'KiB' },
  { id: 'dashboard.verify.ms', label: 'dashboard: page load → "release verified" (5 artifacts, log of 10^6), headless Chromium, median', kind: 'max', target: 2000, unit: 'ms' },
];

/** Recorded is what a section recorded for one id, with when. */
export interface Recorded {
  value: number;
  note?: string;
  date: string;
}

function show(unit: Figure['unit'], v: number): string {
  const n = (d: number): string => v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  if (unit === 'ratio') return `${n(2)}×`;
  if (unit === '/s') return `${n(0)}/s`;
  if (unit === 'ms') return `${n(1)} ms`;
  if (unit === 'KiB') return `${n(1)} KiB`;
  return `${n(0)} MiB`;
}

/** renderCompare returns bench/compare.md for the recorded figures. */
export function renderCompare(recorded: Readonly<Record<string, Recorded>>, machine: string): string {
  const rows = FIGURES.map((f) => {
    const r = recorded[f.id];
    const target = `${f.kind === 'min' ? '≥' : '≤'} ${show(f.unit, f.target)}`;
    if (!r || !Number.isFinite(r.value)) return `| ${f.label} | not measured | ${target} | — | |`;
    const met = f.kind === 'min' ? r.value >= f.target : r.value <= f.target;
    return `| ${f.label} | ${show(f.unit, r.value)} | ${target} | ${met ? '✅' : '❌'} | ${[r.note, r.date.slice(0, 10)].filter(Boolean).join('; ')} |`;
  });
  const known = new Set(FIGURES.map((f) => f.id));
  const unplaced = Object.entries(recorded).filter(([id]) => !known.has(id));
  return [
    '# Custody vs the tools a user would otherwise pick',
    '',
    'Written by `npm run bench` from the figures its sections record; each ratio is measured side by side in one run',
    '(details and anchors in bench/RESULTS.md).',
    '',
    machine,
    '',
    '| figure | Custody | target | met | notes; measured |',
    '|---|---|---|---|---|',
    ...rows,
    ...(unplaced.length ? ['', 'Recorded under ids bench/compare.ts does not list:', '', ...unplaced.map(([id, r]) => `- ${id}: ${r.value}${r.note ? ` (${r.note})` : ''}`)] : []),
    '',
  ].join('\n');
}
