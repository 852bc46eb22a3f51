/**
 * cli/fast/table — the commands that start from a bundle (issue 9, CLI cold start): the offline verifiers, which a
 * boot script or an installer runs once per artifact, where Node's start-up is most of the time spent.
 *
 * Each row names the module and export of the command; scripts/build-cli bundles each into
 * dist/cli/fast/<file>.cjs with its V8 code cache, and the launcher runs that bundle instead of loading the ES
 * modules one by one. test/cli/fast-start.test.ts checks every row is the same command object as the table of
 * cli/commands gives for its name.
 */

/** FastCommand is one bundled command: its name as typed, its module (relative to src/cli/) and export. */
export interface FastCommand {
  name: string;
  module: string;
  exportName: string;
}

export const FAST_COMMANDS: readonly FastCommand[] = [
  { name: 'verify', module: 'commands/verify.ts', exportName: 'verify' },
  { name: 'verify-manifest', module: 'commands/manifest-verify.ts', exportName: 'verifyManifestCommand' },
  { name: 'verify-package', module: 'commands/verify-package.ts', exportName: 'verifyPackageCommand' },
  { name: 'trust verify', module: 'commands/trust.ts', exportName: 'trustVerify' },
  { name: 'sums check', module: 'commands/sums.ts', exportName: 'sumsCheck' },
  { name: 'attest verify', module: 'commands/attest.ts', exportName: 'attestVerify' },
  { name: 'verify-attestation', module: 'commands/attestation.ts', exportName: 'verifyAttestationCommand' },
];

/** bundleFile is the file name of a command's bundle: its words joined by '-', with `.cjs`. */
export function bundleFile(name: string): string {
  return `${name.replace(/ /g, '-')}.cjs`;
}
