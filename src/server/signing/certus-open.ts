/**
 * server/signing/certus-open — opens what the Certus routes (server/signing/certus) need at daemon start: the records
 * beside the auth store (auth/certus-store), the upload policy file (server/signing/upload-policy; the built-in
 * default without one) and the artifact store (server/signing/artifact-store; default the directory DATA/artifacts).
 */
import { join } from 'node:path';
import { openCertusStore } from '../../auth/certus-store.ts';
import { readFileBounded } from '../../io/files.ts';
import { DirectoryArtifactStore, type ArtifactStore } from './artifact-store.ts';
import type { CertusOptions } from './certus.ts';
import { DEFAULT_UPLOAD_POLICY_TEXT, UPLOAD_POLICY_MAX_BYTES, parseUploadPolicy } from './upload-policy.ts';

/** CertusDaemonOptions are the daemon's options for the Certus routes (`custody serve --upload-policy …`). */
export interface CertusDaemonOptions {
  /** uploadPolicyFile: the gatekeeper's tier rules (JSON or YAML); default {@link DEFAULT_UPLOAD_POLICY_TEXT}. */
  uploadPolicyFile?: string | undefined;
  /** artifactStore replaces the directory store DATA/artifacts. */
  artifactStore?: ArtifactStore | undefined;
  /** uploadBodyMaxBytes caps POST /v1/execute-upload (default 16 MiB). */
  uploadBodyMaxBytes?: number | undefined;
}

/** openCertus opens the Certus routes' store, policy and artifact store; close() closes the store. */
export async function openCertus(
  o: CertusDaemonOptions & { dataDir: string; postgres?: { url: string; schema?: string | undefined } | undefined },
): Promise<CertusOptions & { close: () => Promise<void> }> {
  // The policy first: a bad file stops the start before anything is opened.
  const policy =
    o.uploadPolicyFile === undefined
      ? parseUploadPolicy(DEFAULT_UPLOAD_POLICY_TEXT, 'built-in upload policy')
      : parseUploadPolicy(await readFileBounded(o.uploadPolicyFile, { maxBytes: UPLOAD_POLICY_MAX_BYTES, what: 'upload policy' }), o.uploadPolicyFile);
  const store = await openCertusStore({ dataDir: o.dataDir, postgres: o.postgres });
  return {
    store,
    policy,
    artifacts: o.artifactStore ?? new DirectoryArtifactStore(join(o.dataDir, 'artifacts')),
    uploadBodyMaxBytes: o.uploadBodyMaxBytes,
    close: () => store.close(),
  };
}
