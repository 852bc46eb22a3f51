/**
 * fuzz/registry — every fuzz target, one line each (docs/fuzzing.md, "Adding a target"). A target's name is its
 * `--target` name and the folder of its regression inputs under test/fuzz-regressions/.
 */
import type { FuzzTarget } from './target.ts';
import { tar, zip } from './targets/archive.ts';
import { dsse, intotoJsonl, intotoStatement, sigstoreBundle, slsa, sums } from './targets/attest.ts';
import { canonicalJson, strictJson } from './targets/encoding.ts';
import { pkcs11Uri } from './targets/hsm.ts';
import { pemKey, pkcs8Encrypted, sealedKey } from './targets/keys.ts';
import { installJournal } from './targets/install.ts';
import { keyringFile, secretFile } from './targets/secrets.ts';
import { policy } from './targets/policy.ts';
import { lockfile, sbomRead } from './targets/sbom.ts';
import { osv } from './targets/vuln.ts';
import { checkpoint, cosignature, noteKeys, signedNote, tlogProof } from './targets/note.ts';
import { codecBzip2, codecGzip, codecXz, pspf, pspfIndex, pspfMetadata, pspfRoundTrip, pspfSlotTable } from './targets/pkg.ts';
import { fastFront, http, providerAnswers, signingApi, witness } from './targets/server.ts';
import { httpDownloadAnswer } from './targets/http-download.ts';
import { certusApi, uploadPermission, uploadPolicy } from './targets/certus.ts';
import { entryBundle, merkle, tiles } from './targets/tlog.ts';
import { keylessCert, keylessRegexp, oidcJwt } from './targets/oidc.ts';
import { channelIndex, mdnsPacket, peerRecordUrl } from './targets/discovery.ts';
import { manifest, signatureSet, trustRoot } from './targets/trust.ts';
import { tufMetadata } from './targets/tuf.ts';
import { uiAudit, uiLogApi, uiManifest, uiMetrics, uiNote, uiProof, uiRoot } from './targets/ui.ts';

export const TARGETS: readonly FuzzTarget[] = [
  // encoding
  strictJson,
  canonicalJson,
  // trust, manifests
  manifest,
  trustRoot,
  signatureSet,
  tufMetadata,
  // notes and the log
  signedNote,
  checkpoint,
  cosignature,
  noteKeys,
  tlogProof,
  merkle,
  tiles,
  entryBundle,
  // keys
  pemKey,
  sealedKey,
  pkcs8Encrypted,
  pkcs11Uri,
  // archives and packages
  tar,
  zip,
  pspf,
  pspfIndex,
  pspfSlotTable,
  pspfMetadata,
  codecGzip,
  codecBzip2,
  codecXz,
  pspfRoundTrip,
  // attestations (issue 10)
  dsse,
  intotoStatement,
  intotoJsonl,
  sums,
  sigstoreBundle,
  slsa,
  // SBOMs, vulnerabilities, policies (issue 10)
  sbomRead,
  lockfile,
  osv,
  policy,
  // services
  http,
  fastFront,
  providerAnswers,
  httpDownloadAnswer,
  signingApi,
  witness,
  // install targets (issue 13)
  installJournal,
  // secrets (issue 12)
  secretFile,
  keyringFile,
  // Certus routes (issue 11)
  certusApi,
  uploadPermission,
  uploadPolicy,
  // OIDC bearer tokens and keyless certificates (issue 11)
  oidcJwt,
  keylessCert,
  keylessRegexp,
  // mirrors and discovery (issue 14)
  channelIndex,
  peerRecordUrl,
  mdnsPacket,
  // the dashboard's parsers of server answers, in its own browser code (issue 15)
  uiNote,
  uiProof,
  uiLogApi,
  uiRoot,
  uiManifest,
  uiAudit,
  uiMetrics,
];
