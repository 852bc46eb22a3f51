/**
 * client/install-state — the state and journal of an install target (`DIR/install.json`), read and written by
 * `custody install`, `custody rollback` and `custody status` (docs/install.md "Journal").
 *
 * One small JSON document, written atomically (temp + fsync + rename + directory fsync) before and after every step
 * that changes what `DIR/current` points to, byte for byte:
 *
 *   {
 *     "format": "custody.install/v1",
 *     "channel": "stable", "arch": "x86_64",                  the stream this target follows (null before the first install)
 *     "highest": {"stable/x86_64": {"sequence": 1795315711, "digest": "sha256:<hex>"}},   rollback protection
 *     "history": [1795315000, 1795315711],                    activated releases, oldest first; the last is active
 *     "rejected": [{"sequence": 1795316000, "reason": "check", "at": "2026-12-01T21:00:00.000Z"}],
 *     "pending": null | {"op": "install" | "rollback", "from": <seq> | null, "to": <seq>,
 *                        "step": "switch" | "check" | "undo", "check": true | false},
 *     "checksum": "sha256:<hex>"
 *   }
 *
 * `checksum` is SHA-256 over this document as formatInstallState writes it without the checksum line: a file edited
 * by hand (or truncated, or half-written by something else) is refused with ERR_INSTALL_JOURNAL_INVALID and nothing
 * is switched. It guards against accidents, not against an attacker who can write DIR (such a one can replace the
 * releases themselves). The document is bounded (16 KiB, history and rejected lists of 64 entries); a future
 * version changes `format`. Parsing goes through the bounded JSON parser, and every field is checked against the
 * shape above: unknown keys are refused too.
 */
import { sha256 } from '../crypto/index.ts';
import { encodeHex } from '../encoding/bytes.ts';
import { isJsonObject, parseJsonObject, type JsonValue } from '../encoding/json.ts';
import { FormatError, isTrustError } from '../errors.ts';

/** INSTALL_STATE_FORMAT names version 1 of the document. */
export const INSTALL_STATE_FORMAT = 'custody.install/v1';
/** INSTALL_STATE_MAX_BYTES caps the file (a full one is about 8 KiB). */
export const INSTALL_STATE_MAX_BYTES = 16 * 1024;
/** INSTALL_LIST_MAX bounds `history` and `rejected` (oldest entries are dropped first). */
export const INSTALL_LIST_MAX = 64;
/** INSTALL_STREAMS_MAX bounds the `highest` map. */
const INSTALL_STREAMS_MAX = 16;

export type InstallStep = 'switch' | 'check' | 'undo';

/** PendingStep is the half-done operation a crash may leave: what recovery finishes or undoes. */
export interface PendingStep {
  op: 'install' | 'rollback';
  /** from is the release active before the operation (null: none). */
  from: number | null;
  to: number;
  step: InstallStep;
  /** check tells whether the install runs a health check (recovery undoes such an install rather than finish it). */
  check: boolean;
}

export interface RejectedRelease {
  sequence: number;
  reason: 'check' | 'rollback';
  at: string;
}

export interface InstallState {
  channel: string | null;
  arch: string | null;
  highest: Map<string, { sequence: number; digest: string }>;
  history: number[];
  rejected: RejectedRelease[];
  pending: PendingStep | null;
}

/** emptyInstallState is the state of a new target. */
export function emptyInstallState(): InstallState {
  return { channel: null, arch: null, highest: new Map(), history: [], rejected: [], pending: null };
}

function invalid(msg: string): never {
  throw new FormatError('ERR_INSTALL_JOURNAL_INVALID', `install.json: ${msg}`);
}

function body(s: InstallState): string {
  const highest: Record<string, { sequence: number; digest: string }> = {};
  for (const [k, v] of [...s.highest].sort(([a], [b]) => (a < b ? -1 : 1))) highest[k] = { sequence: v.sequence, digest: v.digest };
  const lines = [
    `  "format": ${JSON.stringify(INSTALL_STATE_FORMAT)},`,
    `  "channel": ${JSON.stringify(s.channel)},`,
    `  "arch": ${JSON.stringify(s.arch)},`,
    `  "highest": ${JSON.stringify(highest)},`,
    `  "history": ${JSON.stringify(s.history)},`,
    `  "rejected": ${JSON.stringify(s.rejected.map((r) => ({ sequence: r.sequence, reason: r.reason, at: r.at })))},`,
    `  "pending": ${JSON.stringify(s.pending === null ? null : { op: s.pending.op, from: s.pending.from, to: s.pending.to, step: s.pending.step, check: s.pending.check })},`,
  ];
  return lines.join('\n');
}

/** formatInstallState writes the document (lists trimmed to their bound), checksum last. */
export function formatInstallState(s: InstallState): string {
  const trimmed: InstallState = { ...s, history: s.history.slice(-INSTALL_LIST_MAX), rejected: s.rejected.slice(-INSTALL_LIST_MAX) };
  const b = body(trimmed);
  return `{\n${b}\n  "checksum": "sha256:${encodeHex(sha256(b))}"\n}\n`;
}

const isSeq = (v: JsonValue | undefined): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

function keysExactly(o: Record<string, JsonValue>, keys: readonly string[], what: string): void {
  const got = Object.keys(o);
  if (got.length !== keys.length || !got.every((k) => keys.includes(k))) invalid(`${what}: expected the keys ${keys.join(', ')}, got ${got.slice(0, 12).join(', ')}`);
}

/** parseInstallState reads the document (bounded, every field checked, checksum verified) or throws ERR_INSTALL_JOURNAL_INVALID. */
export function parseInstallState(bytes: Uint8Array): InstallState {
  let doc;
  try {
    doc = parseJsonObject(bytes, { maxBytes: INSTALL_STATE_MAX_BYTES, maxDepth: 4, maxValues: 2048, what: 'install.json' });
  } catch (e) {
    if (isTrustError(e)) invalid(`${e.message} [${e.code}]`);
    throw e;
  }
  keysExactly(doc, ['format', 'channel', 'arch', 'highest', 'history', 'rejected', 'pending', 'checksum'], 'document');
  if (doc.format !== INSTALL_STATE_FORMAT) invalid(`expected format ${INSTALL_STATE_FORMAT}, got ${JSON.stringify(doc.format).slice(0, 60)}`);
  const name = (v: JsonValue | undefined, what: string): string | null => {
    if (v === null) return null;
    if (typeof v !== 'string' || !NAME.test(v)) invalid(`${what} must be null or a channel/arch name`);
    return v;
  };
  const s = emptyInstallState();
  s.channel = name(doc.channel, 'channel');
  s.arch = name(doc.arch, 'arch');
  if ((s.channel === null) !== (s.arch === null)) invalid('channel and arch are set together');
  if (!isJsonObject(doc.highest) || Object.keys(doc.highest).length > INSTALL_STREAMS_MAX) invalid(`highest must be an object of at most ${INSTALL_STREAMS_MAX} streams`);
  for (const [k, v] of Object.entries(doc.highest)) {
    const [c, a, more] = k.split('/');
    if (c === undefined || a === undefined || more !== undefined || !NAME.test(c) || !NAME.test(a)) invalid(`highest: ${JSON.stringify(k.slice(0, 80))} is not channel/arch`);
    if (!isJsonObject(v)) invalid(`highest.${k} must be an object`);
    keysExactly(v, ['sequence', 'digest'], `highest.${k}`);
    if (!isSeq(v.sequence) || typeof v.digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(v.digest)) invalid(`highest.${k}: expected a sequence and a sha256 digest`);
    s.highest.set(k, { sequence: v.sequence, digest: v.digest });
  }
  if (!Array.isArray(doc.history) || doc.history.length > INSTALL_LIST_MAX || !doc.history.every(isSeq)) invalid(`history must be at most ${INSTALL_LIST_MAX} sequences`);
  s.history = doc.history;
  if (new Set(s.history).size !== s.history.length) invalid('history lists a release twice');
  if (!Array.isArray(doc.rejected) || doc.rejected.length > INSTALL_LIST_MAX) invalid(`rejected must be at most ${INSTALL_LIST_MAX} entries`);
  for (const r of doc.rejected) {
    if (!isJsonObject(r)) invalid('rejected entries are objects');
    keysExactly(r, ['sequence', 'reason', 'at'], 'rejected entry');
    if (!isSeq(r.sequence) || (r.reason !== 'check' && r.reason !== 'rollback') || typeof r.at !== 'string' || r.at.length > 40) invalid('rejected entry malformed');
    s.rejected.push({ sequence: r.sequence, reason: r.reason, at: r.at });
  }
  const p = doc.pending;
  if (p !== null) {
    if (!isJsonObject(p)) invalid('pending must be null or an object');
    keysExactly(p, ['op', 'from', 'to', 'step', 'check'], 'pending');
    if (p.op !== 'install' && p.op !== 'rollback') invalid('pending.op must be install or rollback');
    if (p.from !== null && !isSeq(p.from)) invalid('pending.from must be null or a sequence');
    if (!isSeq(p.to)) invalid('pending.to must be a sequence');
    if (p.step !== 'switch' && p.step !== 'check' && p.step !== 'undo') invalid('pending.step must be switch, check or undo');
    if (typeof p.check !== 'boolean') invalid('pending.check must be a boolean');
    s.pending = { op: p.op, from: p.from, to: p.to, step: p.step, check: p.check };
  }
  if (typeof doc.checksum !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(doc.checksum)) invalid('checksum must be sha256:<64 hex>');
  // The checksum covers the document as we write it: a model that re-formats to other bytes was edited.
  if (`sha256:${encodeHex(sha256(body(s)))}` !== doc.checksum) invalid('checksum does not match the content: the file was edited or damaged; nothing was switched');
  return s;
}
