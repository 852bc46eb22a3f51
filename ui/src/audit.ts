/**
 * ui/audit — the audit trail as the daemon serves it to an admin (`GET /admin/v1/audit/events`: JSON Lines, one
 * record per line exactly as in DATA/audit.jsonl, docs/audit.md), and its chain verified in the browser: each record
 * re-hashed (`SHA-256("custody-audit:v1:" ‖ JCS(record without hash))`), stored canonically, linked by `prev`.
 *
 * Trust boundary: the lines come from the daemon; sizes, counts and nesting are capped (ui/json) and every refusal is
 * a UiError.
 */
import { hex, sha256, utf8 } from './bytes.ts';
import { canonicalJcs } from './canonical.ts';
import { UiError } from './errors.ts';
import { asObject, parseJson, type JsonObject } from './json.ts';

/** AUDIT_MAX_BYTES and AUDIT_MAX_RECORDS cap one answer (the daemon sends at most 1000 records). */
export const AUDIT_MAX_BYTES = 4 * 1024 * 1024;
export const AUDIT_MAX_RECORDS = 1000;
/** AUDIT_RECORD_MAX_BYTES caps one line. */
const AUDIT_RECORD_MAX_BYTES = 64 * 1024;

/** AuditLine is one record and its exact line. */
export interface AuditLine {
  line: string;
  rec: JsonObject;
}

/** parseAuditEvents splits the JSON Lines answer into records (each a JSON object), or throws a UiError. */
export function parseAuditEvents(text: string): AuditLine[] {
  if (text.length > AUDIT_MAX_BYTES) throw new UiError(`audit events over ${AUDIT_MAX_BYTES} bytes`);
  if (text !== '' && !text.endsWith('\n')) throw new UiError('audit events: the last line is not complete');
  const lines = text.split('\n').slice(0, -1);
  if (lines.length > AUDIT_MAX_RECORDS) throw new UiError(`more than ${AUDIT_MAX_RECORDS} audit records`);
  return lines.map((line, i) => ({ line, rec: asObject(parseJson(line, `audit record ${i + 1}`, AUDIT_RECORD_MAX_BYTES), `audit record ${i + 1}`) }));
}

/** AuditChain is what {@link verifyAuditChain} found. */
export interface AuditChain {
  /** ok: every record re-hashes to its `hash`, is stored canonically, and names the previous one's hash as `prev`. */
  ok: boolean;
  /** broken is the position of the first record that does not verify (when !ok). */
  broken?: number;
}

/** verifyAuditChain re-hashes and links the records in order (the first one's `prev` is not checked: older ones are not here). */
export async function verifyAuditChain(recs: readonly AuditLine[]): Promise<AuditChain> {
  let prevHash: string | undefined;
  for (let i = 0; i < recs.length; i++) {
    const { line, rec } = recs[i]!;
    const body: JsonObject = { ...rec };
    delete body.hash;
    const h = hex(await sha256(utf8('custody-audit:v1:' + canonicalJcs(body))));
    if (h !== rec.hash || canonicalJcs(rec) !== line || (prevHash !== undefined && rec.prev !== prevHash)) return { ok: false, broken: i };
    prevHash = h;
  }
  return { ok: true };
}
