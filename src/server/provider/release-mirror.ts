/**
 * server/provider/release-mirror — a worker's read-only copy of the releases the leader published
 * (server/cluster). It reads the same record files the leader writes (server/provider/releases: temp + fsync +
 * rename, so a record is read whole or not at all) and checks each one as a client would — signature under the
 * trust root, inclusion proof under the log key — before serving it. It never signs or writes anything, and holds
 * no signing key.
 *
 * Ordering: the leader tells workers about a release after its record is durable; a worker then re-reads that
 * channel/arch. A record is only ever replaced by one with a higher sequence, so a slow initial load racing a
 * notification cannot bring an older release back.
 */
import { isTrustError } from '../../errors.ts';
import type { TrustRoot } from '../../trust/root.ts';
import type { ReleaseView } from './read-path.ts';
import { checkReleaseRecord, listChannels, readCurrentRecord, type Release } from './releases.ts';

/** ReleaseMirrorOptions configures a {@link ReleaseMirror}. */
export interface ReleaseMirrorOptions {
  /** dir is the leader's release directory (DATA/releases). */
  dir: string;
  root: TrustRoot;
  vkey: string;
  now: () => Date;
  /** onRefused is told about a record that does not verify (it is not served). */
  onRefused?: (channel: string, arch: string, code: string) => void;
}

/** ReleaseMirror serves what the record files hold, verified. */
export class ReleaseMirror implements ReleaseView {
  readonly #o: ReleaseMirrorOptions;
  readonly #current = new Map<string, Release>();

  constructor(o: ReleaseMirrorOptions) {
    this.#o = o;
  }

  get(channel: string, arch: string): Release | undefined {
    return this.#current.get(`${channel}/${arch}`);
  }

  /** size is the number of releases served. */
  get size(): number {
    return this.#current.size;
  }

  /** loadAll reads every channel/arch. */
  async loadAll(): Promise<void> {
    for (const { channel, arch } of await listChannels(this.#o.dir)) await this.reload(channel, arch);
  }

  /** reload re-reads one channel/arch; the release it returns is the one served afterwards (if any). */
  async reload(channel: string, arch: string): Promise<Release | undefined> {
    const key = `${channel}/${arch}`;
    let r: Release;
    try {
      // A record file that cannot be read (a directory, a symlink, over the cap) is refused like one that does not
      // verify: the release served before stays served, and the other channels load.
      const raw = await readCurrentRecord(this.#o.dir, channel, arch);
      if (raw === undefined) return this.#current.get(key);
      r = checkReleaseRecord(channel, arch, raw, { root: this.#o.root, vkey: this.#o.vkey, now: this.#o.now() });
    } catch (e) {
      if (!isTrustError(e)) throw e;
      this.#o.onRefused?.(channel, arch, e.code);
      return this.#current.get(key);
    }
    const old = this.#current.get(key);
    if (old === undefined || r.manifest.manifest.sequence >= old.manifest.manifest.sequence) this.#current.set(key, r);
    return this.#current.get(key);
  }
}
