/**
 * archive/tar — a minimal streaming reader and a deterministic writer for POSIX ustar (IEEE 1003.1-1988) with
 * pax extended headers (IEEE 1003.1-2001 `pax` format), the format FlavorPack v0.3.0 tar slots use (Python
 * `tarfile`, PAX_FORMAT). The reader also understands GNU long names (`L`/`K`) and base-256 numbers, because
 * `tar -czf` on Linux writes them.
 *
 * Trust boundary: the reader parses attacker-controlled bytes and never touches the file system. It refuses, with
 * ERR_PKG_ARCHIVE_FORMAT: a bad header checksum, numeric fields that are not octal/base-256, negative or unsafe
 * sizes, data after a non-file entry, truncation, a missing end-of-archive marker, non-zero bytes after it, pax
 * records that are malformed or over `maxMetaBytes`, GNU sparse files, and names that are not UTF-8. It does NOT
 * judge paths, types or modes: that is archive/extract's job.
 *
 * Writer (deterministic, `tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@EPOCH` in spirit):
 * - entries are written in the order given; `tarDirectory` sorts paths by UTF-8 bytes (parents first);
 * - uid = gid = 0, uname = gname = "", mtime from SOURCE_DATE_EPOCH or 0;
 * - modes are normalised to 0755 (directories and executables) or 0644;
 * - header fields are written the way Python's tarfile writes them (`0000644\0`, checksum `%06o\0 `, device
 *   numbers only for devices), magic `ustar\0` version `00` — byte-identical to the reference's tar slots; a name
 *   that fits neither ustar name nor prefix/name, or is not ASCII, goes in a pax `path` record (header name
 *   `././@PaxHeader`), as do long link names and sizes ≥ 8 GiB;
 * - the archive ends with two zero blocks and is padded with zeros to a 10,240-byte record.
 *
 * This module is the entry point; the code is split along its steps: archive/tar-format (sizes, entry model),
 * archive/tar-read (reader), archive/tar-write (writer), archive/tar-scan (directory scanning for packing).
 */
export * from './tar-format.ts';
export * from './tar-read.ts';
export * from './tar-write.ts';
export * from './tar-scan.ts';
