/**
 * version — the one version string of Custody: `custody --version` prints it and packages record it as
 * build.tool_version. It equals package.json's "version" (test/version.test.ts checks), written here rather than read
 * from package.json at run time so that no command pays a file read and JSON parse at start-up.
 */

/** CUSTODY_VERSION is the release of this code (semver). */
export const CUSTODY_VERSION = '0.1.0';
