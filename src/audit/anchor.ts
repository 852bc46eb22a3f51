/**
 * audit/anchor — anchoring audit-log heads in a transparency log, so that truncating or rewriting the audit log is
 * detectable (a hash chain alone cannot show that its tail was cut off: docs/audit.md).
 *
 * The log entry is this UTF-8 text, byte for byte (three lines, each ending in "\n"):
 *
 *   custody.audit/v1
 *   seq 41
 *   head <64 lowercase hex: the hash of audit record 41>
 *
 * An anchor file (what `GET /audit/anchor` serves and `custody audit verify --anchor` reads) is JSON
 * `{"entry": "<the entry text>", "proof": "<c2sp.org/tlog-proof@v1 text>"}`. Trust boundary: the file comes from the
 * daemon being audited, so nothing in it is believed until the proof verifies, under a log key the verifier pins, for
 * exactly these entry bytes; only then is the head used. A verifier should keep the newest anchor it has seen
 * (a monitor copying it periodically): an older anchor still protects every record up to it.
 */
import { parseJsonObject } from '../encoding/json.ts';
import { FormatError } from '../errors.ts';
import { MAX_PROOF_FILE_BYTES, verifyProofFile } from '../note/proof.ts';

export const AUDIT_ANCHOR_HEADER = 'custody.audit/v1';
/** AUDIT_ANCHOR_MAX_BYTES caps an anchor file before parsing. */
export const AUDIT_ANCHOR_MAX_BYTES = MAX_PROOF_FILE_BYTES + 1024;

/** AuditAnchor names one audit record by its seq and hash. */
export interface AuditAnchor {
  seq: number;
  head: string;
}

/** formatAuditAnchorEntry returns the exact log entry bytes for an anchor. */
export function formatAuditAnchorEntry(a: AuditAnchor): Uint8Array {
  if (!Number.isSafeInteger(a.seq) || a.seq < 0 || !/^[0-9a-f]{64}$/.test(a.head)) throw new Error('audit anchor: bad seq or head');
  return new TextEncoder().encode(`${AUDIT_ANCHOR_HEADER}\nseq ${a.seq}\nhead ${a.head}\n`);
}

const ENTRY_RE = /^custody\.audit\/v1\nseq (0|[1-9][0-9]{0,15})\nhead ([0-9a-f]{64})\n$/;

/** parseAuditAnchorEntry reads an anchor entry strictly (the exact bytes formatAuditAnchorEntry writes). */
export function parseAuditAnchorEntry(entry: string): AuditAnchor {
  const m = ENTRY_RE.exec(entry);
  if (!m || !Number.isSafeInteger(Number(m[1]))) {
    throw new FormatError('ERR_AUDIT_RECORD_MALFORMED', `expected an anchor entry "${AUDIT_ANCHOR_HEADER}\\nseq N\\nhead <64 hex>\\n"`);
  }
  return { seq: Number(m[1]), head: m[2]! };
}

/** formatAuditAnchorFile renders the anchor file served at /audit/anchor. */
export function formatAuditAnchorFile(a: AuditAnchor, proofText: string): string {
  return JSON.stringify({ entry: new TextDecoder().decode(formatAuditAnchorEntry(a)), proof: proofText }) + '\n';
}

/**
 * verifyAuditAnchorFile checks an anchor file: its proof must show the entry included in a checkpoint signed by
 * `logKey` (a signed-note verifier key). Returns the anchored record and the log index.
 */
export function verifyAuditAnchorFile(bytes: Uint8Array | string, logKey: string): AuditAnchor & { index: number } {
  const doc = parseJsonObject(bytes, { maxBytes: AUDIT_ANCHOR_MAX_BYTES, what: 'audit anchor' });
  if (typeof doc.entry !== 'string' || typeof doc.proof !== 'string') {
    throw new FormatError('ERR_FORMAT_SCHEMA', 'audit anchor: expected {"entry": "…", "proof": "…"}');
  }
  const anchor = parseAuditAnchorEntry(doc.entry);
  const r = verifyProofFile(doc.proof, { entry: formatAuditAnchorEntry(anchor) }, logKey);
  return { ...anchor, index: r.index };
}
