/**
 * test/support/softhsm — a real SoftHSM2 token store per test file: a temp SOFTHSM2_CONF and token directory,
 * tokens made with `softhsm2-util --init-token`, and the module path discovered on this machine.
 *
 * SoftHSM2 reads SOFTHSM2_CONF when the module is initialized, once per process (PKCS#11 C_Initialize), so a test file
 * makes all its tokens up front with {@link setupSoftHsm}, which also sets process.env.SOFTHSM2_CONF for in-process
 * commands; child processes get {@link SoftHsm.env}.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** MODULE_CANDIDATES are where distributions install SoftHSM2's PKCS#11 module. */
const MODULE_CANDIDATES = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib64/pkcs11/libsofthsm2.so',
  '/usr/lib/pkcs11/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
  '/opt/homebrew/lib/softhsm/libsofthsm2.so',
];

function onPath(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** findSoftHsmModule returns the module path, or undefined (with the reason) when SoftHSM2 is not installed. */
export function findSoftHsmModule(): string | undefined {
  const env = process.env.CUSTODY_TEST_SOFTHSM_MODULE;
  if (env !== undefined && existsSync(env)) return env;
  if (!onPath('softhsm2-util')) return undefined;
  return MODULE_CANDIDATES.find((p) => existsSync(p));
}

/** SKIP_SOFTHSM is the loud skip reason, or false when SoftHSM2 (module and softhsm2-util) is here. */
export const SKIP_SOFTHSM: string | false = (() => {
  if (findSoftHsmModule() !== undefined) return false;
  const msg = 'SKIPPED: SoftHSM2 is not installed (apt-get install softhsm2 opensc); the PKCS#11 tests did not run';
  process.stderr.write(`\n*** ${msg} ***\n\n`);
  return msg;
})();

/** HAS_PKCS11_TOOL tells whether OpenSC's pkcs11-tool is here (the tests that use it skip loudly otherwise). */
export const HAS_PKCS11_TOOL = onPath('pkcs11-tool');

export const USER_PIN = '246810';
export const SO_PIN = '13579113';

export interface SoftHsm {
  dir: string;
  conf: string;
  tokenDir: string;
  module: string;
  /** env for child processes and in-process commands: SOFTHSM2_CONF and CUSTODY_PKCS11_MODULE. */
  env: Record<string, string>;
  /** pinFile is a 0600 file holding USER_PIN (relative name `pin.txt` inside dir). */
  pinFile: string;
  /** tokenDirOf maps a token label to its directory under tokenDir (for removal tests). */
  tokenDirOf(label: string): string;
  /** pkcs11Tool runs OpenSC's pkcs11-tool against the module. */
  pkcs11Tool(args: string[]): string;
  cleanup(): void;
}

/** setupSoftHsm makes a token store with one initialized token per label (user PIN USER_PIN). */
export function setupSoftHsm(labels: readonly string[]): SoftHsm {
  const module = findSoftHsmModule();
  if (module === undefined) throw new Error('SoftHSM2 is not installed');
  const dir = mkdtempSync(join(tmpdir(), 'custody-softhsm-'));
  const tokenDir = join(dir, 'tokens');
  mkdirSync(tokenDir);
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const env = { SOFTHSM2_CONF: conf, CUSTODY_PKCS11_MODULE: module };
  process.env.SOFTHSM2_CONF = conf;
  const dirs = new Map<string, string>();
  for (const label of labels) {
    const before = new Set(readdirSync(tokenDir));
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', USER_PIN, '--so-pin', SO_PIN], {
      env: { ...process.env, ...env },
      stdio: 'ignore',
    });
    const made = readdirSync(tokenDir).filter((d) => !before.has(d));
    if (made.length === 1) dirs.set(label, join(tokenDir, made[0]!));
  }
  const pinFile = join(dir, 'pin.txt');
  writeFileSync(pinFile, USER_PIN + '\n', { mode: 0o600 });
  return {
    dir,
    conf,
    tokenDir,
    module,
    env,
    pinFile,
    tokenDirOf(label) {
      const d = dirs.get(label);
      if (d === undefined) throw new Error(`no token directory for ${label}`);
      return d;
    },
    pkcs11Tool(args) {
      return execFileSync('pkcs11-tool', ['--module', module, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
