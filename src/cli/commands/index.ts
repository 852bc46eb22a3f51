/**
 * cli/commands — the command table. One module per command (or command family); add a line here to register it.
 * Keys are the command words as typed ("trust init"); two-word keys take precedence over one-word keys.
 */
import type { Command } from '../context.ts';
import { logAdd, logMonitor, logServe, logVerifyConsistency, logVerifyInclusion } from './log.ts';
import { witnessServe } from './witness.ts';
import { demo } from './demo.ts';
import { keygen, keyShow } from './keys.ts';
import { manifestCreate, signManifestCommand, verifyManifestCommand } from './manifest.ts';
import { trustAddKey, trustInit, trustRemoveKey, trustRevoke, trustShow, trustSign, trustUpdate, trustVerify } from './trust.ts';
import { verify } from './verify.ts';
import { pack } from './pack.ts';
import { inspect } from './inspect.ts';
import { extract } from './extract.ts';
import { signPackage } from './sign-package.ts';
import { verifyPackageCommand } from './verify-package.ts';
import { serve } from './serve.ts';
import { fetchCommand, publish } from './provider.ts';
import { auditVerify } from './audit.ts';

export const COMMANDS: Record<string, Command> = {
  // core (issue: keys, manifests, trust)
  demo,
  keygen,
  'key show': keyShow,
  'manifest create': manifestCreate,
  'sign-manifest': signManifestCommand,
  'verify-manifest': verifyManifestCommand,
  verify,
  'trust init': trustInit,
  'trust add-key': trustAddKey,
  'trust remove-key': trustRemoveKey,
  'trust revoke': trustRevoke,
  'trust sign': trustSign,
  'trust verify': trustVerify,
  'trust update': trustUpdate,
  'trust show': trustShow,
  // tlog (issue: transparency log)
  'log serve': logServe,
  'log add': logAdd,
  'log monitor': logMonitor,
  'log verify-inclusion': logVerifyInclusion,
  'log verify-consistency': logVerifyConsistency,
  'witness serve': witnessServe,
  // pkg (issue: PSPF packages)
  pack,
  inspect,
  extract,
  'verify-package': verifyPackageCommand,
  'sign-package': signPackage,
  // provider daemon and its clients
  serve,
  fetch: fetchCommand,
  publish,
  // audit (issue: provider daemon audit log)
  'audit verify': auditVerify,
};
