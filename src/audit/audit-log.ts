/**
 * audit/audit-log — the tamper-evident, hash-chained audit log of the provider daemon (docs/audit.md).
 *
 * File format (version 1). The file is JSON Lines: UTF-8, one record per line, each line terminated by exactly one
 * "\n" (0x0a), no blank lines, no BOM, no "\r". Each line is the RFC 8785 (JCS) canonical JSON of one object:
 *
 *   {"event":"manifest.signed","hash":"<64 hex>","key_id":"…","prev":"<64 hex>","seq":0,"time":"2026-11-22T10:00:00Z"}
 *
 * - `seq`   — 0-based record number, safe integer; line N of the file holds seq N−1.
 * - `time`  — RFC 3339 UTC in whole seconds, `YYYY-MM-DDTHH:MM:SSZ` (encoding/time formatTimestamp). Not required to
 *             increase: a clock step must not make the log unverifiable.
 * - `event` — lowercase dotted name, `[a-z][a-z0-9_]*` segments joined by ".", at least two segments, at most 128
 *             chars (e.g. `manifest.signed`, `server.started`).
 * - fields  — any other members, flat or nested: strings, safe integers, booleans, arrays and objects (no null, no
 *             floats). The names seq/time/event/prev/hash are reserved.
 * - `prev`  — lowercase hex of the previous record's `hash`; 64 zeros (AUDIT_GENESIS_HASH) for seq 0.
 * - `hash`  — lowercase hex of SHA-256("custody-audit:v1:" || JCS(the record without its `hash` member)).
 *
 * JCS sorts members by UTF-16 code units, so on disk the members appear in that order (the example above), not in
 * the order they are listed here. Each line, without its "\n", is at most AUDIT_LINE_MAX_BYTES (64 KiB). A future
 * version changes the domain-separation prefix (`custody-audit:v2:`); v1 readers refuse such records as broken.
 *
 * Trust boundary. The writer (`AuditLog`, the daemon) is trusted to log honestly at the time of the event; the file
 * afterwards is not: anyone with write access to it may edit it. The chain makes an edit, deletion, insertion or
 * reordering of any record detectable by `verifyAuditLog`, naming the first bad line. Truncating the tail, or
 * rewriting the whole chain with fresh hashes, is detectable only against a head hash anchored elsewhere
 * (`expectHead`; the daemon anchors heads in its transparency log). The log is not encrypted: secrets never belong
 * in it, and field names that look like secrets (SECRET_FIELD_NAME_TOKENS) are refused as programming bugs.
 *
 * Durability. `append` writes one line with a single O_APPEND write and fsyncs before it resolves. A crash mid-append
 * leaves an unterminated final line, which `AuditLog.open` truncates away (the append never resolved, so no caller
 * was told it happened) and reports as `recoveredTornTail`; `verifyAuditLog` refuses it instead. One process writes
 * a given file: the daemon holds its data-directory lock; this module does not lock.
 */
import { constants, promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { sha256Concat } from '../crypto/index.ts';
import { encodeHex } from '../encoding/bytes.ts';
import { canonicalizeJcs } from '../encoding/canonical.ts';
import { parseJsonObject, type JsonObject, type JsonValue } from '../encoding/json.ts';
import { formatTimestamp, parseTimestamp } from '../encoding/time.ts';
import { FormatError, IoError, LimitError, VerificationError, isTrustError, toIoError } from '../errors.ts';
import { openRegularFile, syncDir } from '../io/files.ts';

/** AUDIT_HASH_PREFIX is the domain-separation prefix hashed before each record's canonical JSON. */
export const AUDIT_HASH_PREFIX = 'custody-audit:v1:';
/** AUDIT_GENESIS_HASH is the `prev` of record 0 and the head hash of an empty log: 64 zeros. */
export const AUDIT_GENESIS_HASH = '0'.repeat(64);
/** AUDIT_LINE_MAX_BYTES caps one record line, without its "\n": 64 KiB. Checked while streaming, before parsing. */
export const AUDIT_LINE_MAX_BYTES = 64 * 1024;
/** AUDIT_MAX_DEPTH caps nesting of a record: the record object is level 1, a field's object or array level 2. */
export const AUDIT_MAX_DEPTH = 32;
/** AUDIT_EVENT_MAX_CHARS caps the event name. */
export const AUDIT_EVENT_MAX_CHARS = 128;
/** AUDIT_RESERVED_NAMES are the record members that fields may not use. */
export const AUDIT_RESERVED_NAMES: readonly string[] = ['seq', 'time', 'event', 'prev', 'hash'];
/**
 * SECRET_FIELD_NAME_TOKENS: a field name (at any depth) is refused when, lowercased with everything but letters and
 * digits removed, it contains one of these (`apiToken`, `db-password`, `Private_Key` are all refused).
 */
export const SECRET_FIELD_NAME_TOKENS: readonly string[] = [
  'token',
  'passphrase',
  'password',
  'secret',
  'authorization',
  'privatekey',
];
/** READ_CHUNK_BYTES is how much of the file is read at a time while verifying. */
const READ_CHUNK_BYTES = 64 * 1024;

const PREFIX_BYTES = new TextEncoder().encode(AUDIT_HASH_PREFIX);
const HEX64_RE = /^[0-9a-f]{64}$/;
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const EVENT_RE = /^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+$/;
// encoding/json refuses these keys on read, so the writer must never produce them.
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const RESERVED = new Set(AUDIT_RESERVED_NAMES);

/** AuditRecord is one verified record. `fields` holds every member except the five reserved ones. */
export interface AuditRecord {
  /** seq is the 0-based record number (0 … 2^53−1); the record is on line seq + 1. */
  readonly seq: number;
  /** time is `YYYY-MM-DDTHH:MM:SSZ`. */
  readonly time: string;
  /** event is the lowercase dotted event name. */
  readonly event: string;
  readonly fields: Readonly<JsonObject>;
  /** prev is the previous record's hash (64 lowercase hex; AUDIT_GENESIS_HASH for seq 0). */
  readonly prev: string;
  /** hash is hex(SHA-256(AUDIT_HASH_PREFIX || JCS(record without hash))). */
  readonly hash: string;
}

/** AuditHead names the last record: seq −1 and AUDIT_GENESIS_HASH while the log is empty. */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
}

export interface AuditLogOptions {
  /** now is the clock for record times (default: the system clock). */
  now?: () => Date;
}

export interface VerifyAuditLogOptions {
  /**
   * expectHead is a head hash anchored earlier (64 lowercase hex). Unless some record has this hash,
   * verification fails with ERR_AUDIT_HEAD_MISSING: the log was truncated or rewritten since. AUDIT_GENESIS_HASH
   * (the head of the empty log) is extended by every log.
   */
  expectHead?: string;
}

/** AuditLogSummary is what `verifyAuditLog` proves about an intact log. */
export interface AuditLogSummary {
  /** records is the number of records (lines). */
  records: number;
  /** head is the last record's hash, AUDIT_GENESIS_HASH when empty. */
  head: string;
  /** firstTime and lastTime are the times of the first and last records (absent when empty). */
  firstTime?: string;
  lastTime?: string;
}

/** auditRecordHash returns the hash of a record body (every member except `hash`). */
export function auditRecordHash(body: JsonObject): string {
  // custody-audit:v1: SHA-256("custody-audit:v1:" || RFC 8785 canonical JSON of the record without "hash")
  return encodeHex(sha256Concat(PREFIX_BYTES, canonicalizeJcs(body)));
}

/** formatAuditRecord returns the line (without "\n") that stores the record: its RFC 8785 canonical JSON. */
export function formatAuditRecord(r: AuditRecord): string {
  return Buffer.from(canonicalizeJcs(recordObject(r))).toString('utf8');
}

function recordObject(r: AuditRecord): JsonObject {
  return { ...r.fields, seq: r.seq, time: r.time, event: r.event, prev: r.prev, hash: r.hash };
}

function malformed(
  where: string,
  line: number | undefined,
  msg: string,
  opts: { details?: Record<string, unknown>; cause?: unknown; hint?: string } = {},
): FormatError {
  return new FormatError('ERR_AUDIT_RECORD_MALFORMED', `${where}: ${msg}`, {
    details: { ...(line === undefined ? {} : { line }), ...opts.details },
    ...(opts.cause === undefined ? {} : { cause: opts.cause }),
    ...(opts.hint === undefined ? {} : { hint: opts.hint }),
  });
}

function short(hex: string): string {
  return hex.length > 16 ? `${hex.slice(0, 16)}…` : hex;
}

/**
 * parseAuditRecord parses one line (without its "\n") and checks everything the line alone can prove: size, strict
 * UTF-8 and JSON, the schema, RFC 8785 canonical form and that `hash` matches the content. It does not check the
 * link to the previous record (seq, prev); `verifyAuditLog` does. `line` names the 1-based line number in errors.
 * Throws ERR_LIMIT_SIZE, ERR_LIMIT_DEPTH, ERR_AUDIT_RECORD_MALFORMED or ERR_AUDIT_CHAIN_BROKEN (hash mismatch).
 *
 * @example
 * const r = parseAuditRecord(text.split('\n')[0]!, 1);
 */
export function parseAuditRecord(input: Uint8Array | string, line?: number): AuditRecord {
  const where = line === undefined ? 'audit record' : `audit log line ${line}`;
  if (typeof input === 'string' && !input.isWellFormed()) throw malformed(where, line, 'contains an unpaired surrogate');
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  // The cap is checked before decoding or parsing anything (attacker-controlled length).
  if (bytes.length > AUDIT_LINE_MAX_BYTES) {
    throw new LimitError('ERR_LIMIT_SIZE', `${where}: ${bytes.length} bytes, over the cap of ${AUDIT_LINE_MAX_BYTES}`, {
      details: { ...(line === undefined ? {} : { line }), size: bytes.length, cap: AUDIT_LINE_MAX_BYTES },
    });
  }
  let obj: JsonObject;
  try {
    obj = parseJsonObject(bytes, { maxBytes: AUDIT_LINE_MAX_BYTES, maxDepth: AUDIT_MAX_DEPTH, what: where });
  } catch (e) {
    // Malformed JSON becomes the audit code; every refusal names the line in its message and details.
    const at = line === undefined ? {} : { line };
    if (e instanceof FormatError) {
      throw new FormatError('ERR_AUDIT_RECORD_MALFORMED', e.message, { details: { ...at, reason: e.code, ...e.details }, cause: e });
    }
    if (e instanceof LimitError && (e.code === 'ERR_LIMIT_DEPTH' || e.code === 'ERR_LIMIT_COUNT')) {
      throw new LimitError(e.code, e.message, { details: { ...at, ...e.details }, cause: e });
    }
    throw e;
  }
  const { seq, time, event, prev, hash, ...fields } = obj;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
    throw malformed(where, line, `"seq": expected a non-negative integer, got ${JSON.stringify(seq)?.slice(0, 40) ?? 'nothing'}`);
  }
  if (typeof time !== 'string' || !TIME_RE.test(time)) {
    throw malformed(where, line, `"time": expected YYYY-MM-DDTHH:MM:SSZ, got ${JSON.stringify(time)?.slice(0, 40) ?? 'nothing'}`);
  }
  try {
    parseTimestamp(time, `${where}: "time"`);
  } catch (e) {
    throw malformed(where, line, `"time": ${JSON.stringify(time)} is not a valid date`, { cause: e });
  }
  if (typeof event !== 'string' || event.length > AUDIT_EVENT_MAX_CHARS || !EVENT_RE.test(event)) {
    throw malformed(where, line, `"event": expected a lowercase dotted name, got ${JSON.stringify(event)?.slice(0, 40) ?? 'nothing'}`);
  }
  const hex64 = (name: string, v: JsonValue | undefined): string => {
    if (typeof v !== 'string' || !HEX64_RE.test(v)) {
      throw malformed(where, line, `"${name}": expected 64 lowercase hex chars, got ${JSON.stringify(v)?.slice(0, 70) ?? 'nothing'}`);
    }
    return v;
  };
  const prevHex = hex64('prev', prev);
  const hashHex = hex64('hash', hash);
  const nullAt = findNull(fields, '');
  if (nullAt !== undefined) throw malformed(where, line, `field ${nullAt}: null is not a field value`);
  // Exactly one spelling per record: without this, whitespace or key order could change without changing the hash.
  const canonical = canonicalizeJcs(obj);
  if (!Buffer.from(canonical).equals(bytes)) {
    throw malformed(where, line, 'not in RFC 8785 canonical form (sorted keys, no whitespace, shortest escapes)');
  }
  const { hash: _omit, ...body } = obj;
  const computed = auditRecordHash(body);
  if (computed !== hashHex) {
    throw new VerificationError(
      'ERR_AUDIT_CHAIN_BROKEN',
      `${where}: the hash does not match the record's content (expected ${short(computed)}, got ${short(hashHex)}): the record was edited`,
      { details: { ...(line === undefined ? {} : { line }), seq, expected: computed, got: hashHex } },
    );
  }
  return { seq, time, event, fields, prev: prevHex, hash: hashHex };
}

function findNull(v: JsonValue, path: string): string | undefined {
  if (v === null) return path;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const r = findNull(v[i]!, `${path}[${i}]`);
      if (r !== undefined) return r;
    }
  } else if (typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const r = findNull(x, path === '' ? k : `${path}.${k}`);
      if (r !== undefined) return r;
    }
  }
  return undefined;
}

/** isSecretFieldName tells whether a field name looks like it names a secret (SECRET_FIELD_NAME_TOKENS). */
export function isSecretFieldName(name: string): boolean {
  const folded = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  return SECRET_FIELD_NAME_TOKENS.some((t) => folded.includes(t));
}

/**
 * copyFields validates caller-supplied fields and returns a deep copy, reading each property once, so a getter or a
 * later mutation by the caller cannot change a record between validation and writing. Every refusal is a plain
 * Error: the daemon's code chooses field names and types, so a bad one is a programming bug.
 */
function copyFields(fields: JsonObject): JsonObject {
  if (!isPlainObject(fields)) throw new Error('audit log: fields must be a plain object');
  const out: JsonObject = {};
  for (const k of Object.keys(fields)) {
    if (RESERVED.has(k)) throw new Error(`audit log: field name ${JSON.stringify(k)} is reserved`);
    checkName(k, k);
    out[k] = copyValue(fields[k], k, 2);
  }
  return out;
}

function checkName(name: string, path: string): void {
  if (!name.isWellFormed()) throw new Error(`audit log: field ${JSON.stringify(path)}: name contains an unpaired surrogate`);
  if (FORBIDDEN_KEYS.has(name)) throw new Error(`audit log: field name ${JSON.stringify(path)} is forbidden`);
  // Secrets never reach the audit log: a name that suggests one is refused before anything is written.
  if (isSecretFieldName(name)) throw new Error(`audit log: field name ${JSON.stringify(path)} looks like a secret; secrets are never logged`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function copyValue(v: unknown, path: string, depth: number): JsonValue {
  if (typeof v === 'string') {
    // JSON.stringify would escape a lone surrogate, but the strict reader refuses it: the log would not verify.
    if (!v.isWellFormed()) throw new Error(`audit log: field ${path}: string contains an unpaired surrogate`);
    return v;
  }
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error(`audit log: field ${path}: expected a safe integer, got ${v}`);
    return Object.is(v, -0) ? 0 : v;
  }
  if (typeof v === 'boolean') return v;
  if (depth > AUDIT_MAX_DEPTH) throw new Error(`audit log: field ${path}: nests deeper than ${AUDIT_MAX_DEPTH} levels`);
  if (Array.isArray(v)) return v.map((x, i) => copyValue(x, `${path}[${i}]`, depth + 1));
  if (isPlainObject(v)) {
    const out: JsonObject = {};
    for (const k of Object.keys(v)) {
      checkName(k, `${path}.${k}`);
      out[k] = copyValue(v[k], `${path}.${k}`, depth + 1);
    }
    return out;
  }
  const got = v === null ? 'null' : typeof v === 'object' ? 'a non-plain object' : typeof v;
  throw new Error(`audit log: field ${path}: expected a string, safe integer, boolean, array or plain object, got ${got}`);
}

function assertEventName(event: string): void {
  if (typeof event !== 'string' || event.length > AUDIT_EVENT_MAX_CHARS || !EVENT_RE.test(event)) {
    throw new Error(`audit log: event ${JSON.stringify(event)} is not a lowercase dotted name like "manifest.signed"`);
  }
}

/** ScanResult is what one pass over the file established. */
interface ScanResult {
  records: number;
  head: string;
  firstTime: string | undefined;
  lastTime: string | undefined;
  /** end is the offset just after the last complete line. */
  end: number;
  /** tornBytes counts the bytes after the last "\n" (an interrupted append). */
  tornBytes: number;
  /** sawHead: some record's hash equals the expected head. */
  sawHead: boolean;
}

/**
 * scanAuditLog reads the file from offset 0 in READ_CHUNK_BYTES chunks and verifies each complete line as it ends,
 * so memory stays bounded by one line plus one chunk however large the file is.
 */
async function scanAuditLog(fh: fsp.FileHandle, expectHead: string | undefined): Promise<ScanResult> {
  const chunk = Buffer.alloc(READ_CHUNK_BYTES);
  let parts: Buffer[] = [];
  let partLen = 0;
  let pos = 0;
  let lineNo = 0;
  const r: ScanResult = { records: 0, head: AUDIT_GENESIS_HASH, firstTime: undefined, lastTime: undefined, end: 0, tornBytes: 0, sawHead: false };
  const onLine = (bytes: Uint8Array, line: number): void => {
    const rec = parseAuditRecord(bytes, line);
    if (rec.seq !== r.records) {
      throw new VerificationError(
        'ERR_AUDIT_CHAIN_BROKEN',
        `audit log line ${line}: expected seq ${r.records}, got ${rec.seq}: a record was deleted, inserted or reordered`,
        { details: { line, expected: r.records, got: rec.seq } },
      );
    }
    if (rec.prev !== r.head) {
      const what = line === 1 ? 'the first record must have 64 zeros' : `expected the hash of line ${line - 1}`;
      throw new VerificationError(
        'ERR_AUDIT_CHAIN_BROKEN',
        `audit log line ${line}: "prev" does not link to the previous record (${what}, ${short(r.head)}, got ${short(rec.prev)})`,
        { details: { line, expected: r.head, got: rec.prev } },
      );
    }
    r.records++;
    r.head = rec.hash;
    r.firstTime ??= rec.time;
    r.lastTime = rec.time;
    if (rec.hash === expectHead) r.sawHead = true;
  };
  for (;;) {
    const { bytesRead } = await fh.read(chunk, 0, chunk.length, pos);
    if (bytesRead === 0) break;
    const view = chunk.subarray(0, bytesRead);
    let i = 0;
    while (i < bytesRead) {
      const nl = view.indexOf(0x0a, i);
      const stop = nl === -1 ? bytesRead : nl;
      const seg = view.subarray(i, stop);
      // Checked before the line ends, so an endless line is refused without reading it all.
      if (partLen + seg.length > AUDIT_LINE_MAX_BYTES) {
        throw new LimitError('ERR_LIMIT_SIZE', `audit log line ${lineNo + 1}: over the cap of ${AUDIT_LINE_MAX_BYTES} bytes`, {
          details: { line: lineNo + 1, cap: AUDIT_LINE_MAX_BYTES },
        });
      }
      if (nl === -1) {
        parts.push(Buffer.from(seg)); // copy: chunk is reused by the next read
        partLen += seg.length;
        i = bytesRead;
      } else {
        const line = partLen === 0 ? seg : Buffer.concat([...parts, seg]);
        parts = [];
        partLen = 0;
        onLine(line, ++lineNo);
        r.end = pos + stop + 1;
        i = stop + 1;
      }
    }
    pos += bytesRead;
  }
  r.tornBytes = partLen;
  return r;
}

/**
 * verifyAuditLog verifies the whole chain of the audit log at path, read-only, and returns its summary. An
 * unterminated final line is refused (ERR_AUDIT_RECORD_MALFORMED) rather than repaired; `expectHead` additionally
 * detects truncation (ERR_AUDIT_HEAD_MISSING). Other refusals: ERR_AUDIT_CHAIN_BROKEN, ERR_LIMIT_SIZE, ERR_IO_*.
 *
 * @example
 * const { records, head } = await verifyAuditLog('/var/lib/custody/audit.log', { expectHead: anchored });
 */
export async function verifyAuditLog(path: string, options: VerifyAuditLogOptions = {}): Promise<AuditLogSummary> {
  const expectHead = options.expectHead;
  if (expectHead !== undefined && !HEX64_RE.test(expectHead)) {
    throw new FormatError('ERR_FORMAT_HEX', `expected head: expected 64 lowercase hex chars, got ${JSON.stringify(expectHead).slice(0, 70)}`);
  }
  const { fh } = await openRegularFile(path, true);
  let r: ScanResult;
  try {
    r = await scanAuditLog(fh, expectHead);
  } catch (e) {
    throw toIoError(e, path, 'read');
  } finally {
    await fh.close();
  }
  if (r.tornBytes > 0) {
    const line = r.records + 1;
    throw malformed(`audit log line ${line}`, line, `incomplete final line (${r.tornBytes} bytes, no newline)`, {
      details: { bytes: r.tornBytes },
      hint: 'an append was interrupted by a crash; the daemon truncates this line when it next opens the log (AuditLog.open)',
    });
  }
  if (expectHead !== undefined && expectHead !== AUDIT_GENESIS_HASH && !r.sawHead) {
    throw new VerificationError(
      'ERR_AUDIT_HEAD_MISSING',
      `no record of the audit log has the anchored head ${short(expectHead)} (${r.records} records, head ${short(r.head)})`,
      { details: { expected: expectHead, records: r.records, head: r.head } },
    );
  }
  return {
    records: r.records,
    head: r.head,
    ...(r.firstTime === undefined ? {} : { firstTime: r.firstTime }),
    ...(r.lastTime === undefined ? {} : { lastTime: r.lastTime }),
  };
}

/**
 * AuditLog appends records to one audit log file. Duties: `open` verifies the whole existing chain before any
 * append; `append` resolves only after the line is written and fsynced; appends are serialized in call order; after a
 * failed write every further append fails (ERR_IO_WRITE_FAILED) until the log is reopened, which recovers the file.
 *
 * @example
 * const log = await AuditLog.open('/var/lib/custody/audit.log');
 * await log.append('manifest.signed', { key_id: 'ab12…', sequence: 7 });
 * await log.close();
 */
export class AuditLog {
  /** path is the file this log appends to. */
  readonly path: string;
  /** recoveredTornTail is true when `open` truncated an incomplete final line left by a crash mid-append. */
  readonly recoveredTornTail: boolean;
  private readonly fh: fsp.FileHandle;
  private readonly now: () => Date;
  private seq: number;
  private hash: string;
  /** queue settles when every append called so far has settled; never rejects. */
  private queue: Promise<unknown> = Promise.resolve();
  private failure: unknown = undefined;
  private closing: Promise<void> | undefined;

  private constructor(path: string, fh: fsp.FileHandle, now: () => Date, head: AuditHead, recoveredTornTail: boolean) {
    this.path = path;
    this.fh = fh;
    this.now = now;
    this.seq = head.seq;
    this.hash = head.hash;
    this.recoveredTornTail = recoveredTornTail;
  }

  /**
   * open creates the file (mode 0600; the parent directory must exist) or opens an existing one, verifies its whole
   * chain and truncates an incomplete final line (fsynced). Any other defect refuses with the coded error of
   * `verifyAuditLog`, naming the 1-based line; symlinks and non-regular files give ERR_IO_NOT_REGULAR_FILE.
   */
  static async open(path: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    const now = options.now ?? ((): Date => new Date());
    const flags = constants.O_RDWR | constants.O_APPEND | constants.O_NOFOLLOW;
    let fh: fsp.FileHandle;
    let created = false;
    try {
      try {
        fh = await fsp.open(path, flags | constants.O_CREAT | constants.O_EXCL, 0o600);
        created = true;
      } catch (e) {
        if ((e as { code?: unknown }).code !== 'EEXIST') throw e;
        fh = await fsp.open(path, flags);
      }
    } catch (e) {
      const errno = (e as { code?: unknown }).code;
      if (errno === 'ELOOP') {
        throw new IoError('ERR_IO_NOT_REGULAR_FILE', `${path} is a symlink; pass the audit log file itself`, { cause: e });
      }
      if (errno === 'EISDIR') throw new IoError('ERR_IO_NOT_REGULAR_FILE', `${path} is a directory`, { cause: e });
      throw toIoError(e, path, 'write');
    }
    try {
      if (!(await fh.stat()).isFile()) throw new IoError('ERR_IO_NOT_REGULAR_FILE', `${path} is not a regular file`);
      // A new file's directory entry must survive a crash as well as its first records.
      if (created) await syncDir(dirname(path));
      const r = await scanAuditLog(fh, undefined);
      if (r.tornBytes > 0) {
        // Crash point: the interrupted append never resolved, so dropping its partial line loses nothing
        // acknowledged. The truncation is fsynced before any new record can be appended after it.
        await fh.truncate(r.end);
        await fh.sync();
      }
      return new AuditLog(path, fh, now, { seq: r.records - 1, hash: r.head }, r.tornBytes > 0);
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw toIoError(e, path, 'read');
    }
  }

  /** head is the last durable record's seq and hash (seq −1 and AUDIT_GENESIS_HASH while empty). */
  get head(): AuditHead {
    return { seq: this.seq, hash: this.hash };
  }

  /**
   * append adds one record and resolves once it is fsynced. Calls are serialized in call order, so seq and prev are
   * always consistent. A bad event name or field (reserved, secret-looking, wrong type) throws a plain Error and
   * writes nothing; a record line over AUDIT_LINE_MAX_BYTES gives ERR_LIMIT_SIZE and writes nothing.
   */
  async append(event: string, fields: JsonObject = {}): Promise<AuditRecord> {
    assertEventName(event);
    const copy = copyFields(fields);
    if (this.closing) throw new Error('audit log: append after close');
    const run = this.queue.then(() => this.write(event, copy));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async write(event: string, fields: JsonObject): Promise<AuditRecord> {
    if (this.failure !== undefined) {
      throw new IoError('ERR_IO_WRITE_FAILED', `audit log ${this.path}: an earlier append failed; reopen the log to recover it`, {
        cause: this.failure,
      });
    }
    const time = formatTimestamp(this.now());
    if (!TIME_RE.test(time)) throw new Error(`audit log: the clock gave ${time}, outside years 0000–9999`);
    const body: JsonObject = { ...fields, seq: this.seq + 1, time, event, prev: this.hash };
    const rec: AuditRecord = { seq: this.seq + 1, time, event, fields, prev: this.hash, hash: auditRecordHash(body) };
    const line = Buffer.from(formatAuditRecord(rec) + '\n', 'utf8');
    if (line.length - 1 > AUDIT_LINE_MAX_BYTES) {
      throw new LimitError('ERR_LIMIT_SIZE', `audit record ${event} is ${line.length - 1} bytes, over the cap of ${AUDIT_LINE_MAX_BYTES}`, {
        details: { size: line.length - 1, cap: AUDIT_LINE_MAX_BYTES },
      });
    }
    try {
      // O_APPEND: every write lands at the current end of file. A short write is continued, and a crash between
      // writes leaves an unterminated line that open() truncates.
      let off = 0;
      while (off < line.length) {
        const { bytesWritten } = await this.fh.write(line, off, line.length - off, null);
        if (bytesWritten <= 0) throw new IoError('ERR_IO_WRITE_FAILED', `audit log ${this.path}: the file system accepted no more bytes (disk full?)`);
        off += bytesWritten;
      }
      await this.fh.sync();
    } catch (e) {
      // The file may now end in a partial line, or hold a record whose durability is unknown (a failed fsync):
      // appending after it could break the chain, so this instance refuses further appends.
      this.failure = e;
      const coded = toIoError(e, this.path, 'write');
      // Whatever failed (an errno, or something without one), an append that did not complete is ERR_IO_WRITE_FAILED.
      throw isTrustError(coded) ? coded : new IoError('ERR_IO_WRITE_FAILED', `audit log ${this.path}: the append failed`, { cause: e });
    }
    this.seq = rec.seq;
    this.hash = rec.hash;
    return rec;
  }

  /** close waits for pending appends to settle, then closes the file. Further appends throw; close is idempotent. */
  close(): Promise<void> {
    this.closing ??= this.queue.then(() => this.fh.close());
    return this.closing;
  }
}
