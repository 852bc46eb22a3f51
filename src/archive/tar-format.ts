/**
 * archive/tar-format — what the tar reader (archive/tar-read), writer (archive/tar-write) and directory scanner
 * (archive/tar-scan) share: block and record sizes of POSIX ustar (IEEE 1003.1-1988) with pax extended headers
 * (IEEE 1003.1-2001), the entry model, and block padding. See archive/tar for the format rules.
 */

/** TAR_BLOCK_BYTES is the tar block size. */
export const TAR_BLOCK_BYTES = 512;
/** TAR_RECORD_BYTES: archives are padded to whole records of 20 blocks (tar's default blocking factor). */
export const TAR_RECORD_BYTES = 10240;
/** TAR_DEFAULT_MAX_META_BYTES caps one pax or GNU long-name payload (1 MiB). */
export const TAR_DEFAULT_MAX_META_BYTES = 1024 * 1024;
/** TAR_READ_CHUNK_BYTES is the chunk size used when streaming file contents into an archive. */
export const TAR_READ_CHUNK_BYTES = 1024 * 1024;

/** TarEntryType classifies an entry by its typeflag. */
export type TarEntryType =
  | 'file'
  | 'directory'
  | 'symlink'
  | 'hardlink'
  | 'char-device'
  | 'block-device'
  | 'fifo'
  | 'unsupported';

/** TarHeader is one entry's header, after pax and GNU long-name records were applied. */
export interface TarHeader {
  path: string;
  type: TarEntryType;
  /** typeflag is the raw type character ('0', '5', '2', …; '\0' reads as '0'). */
  typeflag: string;
  /** mode includes the setuid (0o4000), setgid (0o2000) and sticky (0o1000) bits. */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  size: number;
  mtime: number;
  linkpath: string;
  devmajor: number;
  devminor: number;
  /** format: 'ustar' (POSIX magic), 'gnu' (`ustar  \0`) or 'v7' (no magic); 'pax' when pax records applied. */
  format: 'ustar' | 'gnu' | 'v7' | 'pax';
}

/** TarEntry is yielded by {@link readTar}; consume `body()` before asking for the next entry (or it is skipped). */
export interface TarEntry {
  header: TarHeader;
  /** offset of the header block in the tar stream. */
  offset: number;
  body: () => AsyncGenerator<Uint8Array>;
}

export interface ReadTarOptions {
  /** maxMetaBytes caps each pax/GNU long-name payload (default 1 MiB). */
  maxMetaBytes?: number;
}

/** ByteSource is any stream of byte chunks (an async generator, a Node readable, or an array of chunks). */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** pad is the number of zero bytes that complete n data bytes to a whole 512-byte block. */
export function pad(n: number): number {
  return (TAR_BLOCK_BYTES - (n % TAR_BLOCK_BYTES)) % TAR_BLOCK_BYTES;
}

/** headerChecksums returns the unsigned and the (historic) signed sum of a header with the chksum field as spaces. */
export function headerChecksums(h: Uint8Array): [number, number] {
  let u = 0;
  let s = 0;
  for (let i = 0; i < TAR_BLOCK_BYTES; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : h[i]!;
    u += c;
    s += c >= 0x80 ? c - 256 : c;
  }
  return [u, s];
}
