/**
 * server/signing/artifact-store — where POST /v1/execute-upload puts permitted artifacts (issue 11; Certus-Transform's
 * `execute-upload`, which writes to S3 and an OCI registry). One interface, so an operator can plug in another
 * backend; the embedded default is a directory under the data dir.
 *
 * Duties of a backend: `put` resolves only once the bytes are durable and visible whole under their key (never a
 * partial file); it is called only after the permission was verified and spent and the bytes were checked against
 * the permitted digest, so a backend does no checking of its own; `probe` resolves when the backend can take writes
 * (GET /v1/ready). Failures reject with IoError ERR_CERTUS_STORE.
 *
 * {@link DirectoryArtifactStore} layout: `<root>/<destination>/<scan id>/<artifact name>`, each file written by
 * io/files writeFileAtomic (temp + fsync + rename + directory fsync), mode 0644, directories 0750. Scan ids and names
 * are checked by the route schemas (no `/`, no `..`, no control characters) and again here.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { IoError, isTrustError } from '../../errors.ts';
import { tempPath, writeFileAtomic } from '../../io/files.ts';

/** StoredArtifact is where an artifact went. */
export interface StoredArtifact {
  destination: string;
  name: string;
  /** uri names the stored object (file:// for the directory store). */
  uri: string;
}

/** ArtifactStore stores permitted artifacts; see the module comment for its duties. */
export interface ArtifactStore {
  readonly where: string;
  put(o: { destination: string; scanId: string; name: string; bytes: Uint8Array; digest: string }): Promise<StoredArtifact>;
  probe(): Promise<void>;
}

const SEGMENT_RE = /^[A-Za-z0-9._@+-]{1,128}$/;

function segment(s: string, what: string): string {
  if (!SEGMENT_RE.test(s) || s === '.' || s === '..') throw new IoError('ERR_CERTUS_STORE', `${what} "${s.slice(0, 40)}" cannot name a stored file`);
  return s;
}

/** DirectoryArtifactStore is the embedded {@link ArtifactStore}: files under one directory (default DATA/artifacts). */
export class DirectoryArtifactStore implements ArtifactStore {
  readonly where: string;
  readonly root: string;
  constructor(root: string) {
    this.root = root;
    this.where = root;
  }

  async put(o: { destination: string; scanId: string; name: string; bytes: Uint8Array; digest: string }): Promise<StoredArtifact> {
    const path = join(this.root, segment(o.destination, 'destination'), segment(o.scanId, 'scan id'), segment(o.name, 'artifact name'));
    try {
      await writeFileAtomic(path, o.bytes, { dirMode: 0o750, mode: 0o644 });
    } catch (e) {
      throw new IoError('ERR_CERTUS_STORE', `artifact store: writing ${o.destination}/${o.scanId}/${o.name} failed: ${isTrustError(e) ? e.code : String((e as Error).message).slice(0, 100)}`, { cause: e });
    }
    return { destination: o.destination, name: o.name, uri: `file://${path}` };
  }

  /** probe writes, syncs and removes a temporary file in the root (a full or read-only disk fails here). */
  async probe(): Promise<void> {
    try {
      await fsp.mkdir(this.root, { recursive: true, mode: 0o750 });
      const t = tempPath(this.root, 'ready-probe');
      const fh = await fsp.open(t, 'wx', 0o600);
      try {
        await fh.writeFile('probe');
        await fh.sync();
      } finally {
        await fh.close();
        await fsp.rm(t, { force: true });
      }
    } catch (e) {
      throw new IoError('ERR_CERTUS_STORE', `artifact store ${this.root} cannot take writes: ${String((e as { code?: string }).code ?? (e as Error).message)}`, { cause: e });
    }
  }
}
