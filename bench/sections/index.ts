/**
 * bench/sections — the benchmark sections `npm run bench` runs, in order. Each measures our figure next to its
 * anchor in the same run and returns markdown for bench/RESULTS.md. Add a section here to register it.
 */
import type { BenchSection } from '../types.ts';

export const SECTIONS: Array<{ name: string; load: () => Promise<BenchSection> }> = [
  { name: 'crypto', load: async () => (await import('./crypto.ts')).default },
  { name: 'cli', load: async () => (await import('./cli.ts')).default },
  { name: 'pkg', load: async () => (await import('./pkg.ts')).default },
  { name: 'tlog', load: async () => (await import('./tlog.ts')).default },
  { name: 'provider', load: async () => (await import('./provider.ts')).default },
  { name: 'provider-memory', load: async () => (await import('./provider-memory.ts')).default },
  { name: 'vuln', load: async () => (await import('./vuln.ts')).default },
  { name: 'sums', load: async () => (await import('./sums.ts')).default },
  { name: 'attest', load: async () => (await import('./attest.ts')).default },
  { name: 'sbom', load: async () => (await import('./sbom.ts')).default },
  { name: 'signing-api', load: async () => (await import('./signing-api.ts')).default },
  { name: 'install', load: async () => (await import('./install.ts')).default },
  { name: 'pkcs11', load: async () => (await import('./pkcs11.ts')).default },
  { name: 'secrets', load: async () => (await import('./secrets.ts')).default },
  { name: 'oidc', load: async () => (await import('./oidc.ts')).default },
  // issue 13: the TUF repository
  { name: 'tuf', load: async () => (await import('./tuf.ts')).default },
  { name: 'p2p', load: async () => (await import('./p2p.ts')).default },
  { name: 'dashboard', load: async () => (await import('./dashboard.ts')).default },
];
