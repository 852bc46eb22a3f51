/**
 * cli/commands/audit — `custody audit verify`: read-only verification of the daemon's hash-chained audit log
 * (docs/audit.md). It never repairs the file: an interrupted append is reported, not truncated.
 */
import { AUDIT_ANCHOR_MAX_BYTES, verifyAuditAnchorFile } from '../../audit/anchor.ts';
import { verifyAuditLog } from '../../audit/audit-log.ts';
import { readFileBounded } from '../../io/files.ts';
import { UsageError } from '../../errors.ts';
import { abs } from '../common.ts';
import { parseCommandArgs, type Command } from '../context.ts';

export const auditVerify: Command = {
  summary: 'verify the hash chain of an audit log (read-only)',
  usage: `usage: custody audit verify FILE [--head HEX | --anchor ANCHOR --log-key VKEY] [--json]

Verifies the whole hash chain of a custody audit log (JSON Lines of RFC 8785 canonical records, docs/audit.md)
without changing it: each line must be a canonical record whose hash matches its content, whose seq follows the
previous record's and whose prev is the previous record's hash. Prints the number of records, the head hash and the
time range. The first bad line is named in the error.

options:
  --head HEX   a head hash anchored earlier (64 lowercase hex, e.g. from the transparency log): refused with
               ERR_AUDIT_HEAD_MISSING unless some record has this hash, which detects a truncated or rewritten
               log (default: no anchor; truncation of the tail is then undetectable)
  --anchor F   an anchor file saved from the daemon's GET /audit/anchor ({"entry", "proof"}): its inclusion proof
               must verify under --log-key, then its head is required as with --head
  --log-key K  the daemon's transparency-log verifier key (printed by custody serve), for --anchor
  --json       print {"ok":true,"records":N,"head":HEX,"first_time":T|null,"last_time":T|null}

exit status: 0 intact, 1 broken or malformed (ERR_AUDIT_*, ERR_LIMIT_SIZE), 2 usage, 3 unreadable.

example:
  custody audit verify custody-data/audit.jsonl
  custody audit verify custody-data/audit.jsonl --head "$(cat anchored-head.txt)" --json
  curl -s http://provider:8080/audit/anchor > anchor.json      # on a monitoring host, periodically
  custody audit verify audit.jsonl --anchor anchor.json --log-key 'host/custody/log+…'`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, { head: { type: 'string' }, anchor: { type: 'string' }, 'log-key': { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', `expected exactly one audit log file, got ${positionals.length}`);
    if (values.anchor !== undefined && values.head !== undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'pass --head or --anchor, not both');
    if ((values.anchor === undefined) !== (values['log-key'] === undefined)) {
      throw new UsageError('ERR_USAGE_ARGUMENT', '--anchor and --log-key go together');
    }
    let head = values.head;
    let anchoredAt: number | undefined;
    if (values.anchor !== undefined) {
      const raw = await readFileBounded(abs(ctx, values.anchor), { maxBytes: AUDIT_ANCHOR_MAX_BYTES, allowSymlink: true, what: 'audit anchor' });
      const a = verifyAuditAnchorFile(raw, values['log-key']!);
      head = a.head;
      anchoredAt = a.index;
    }
    if (head !== undefined && !/^[0-9a-f]{64}$/.test(head)) {
      throw new UsageError('ERR_USAGE_ARGUMENT', `--head: expected 64 lowercase hex chars, got ${JSON.stringify(head).slice(0, 70)}`);
    }
    const s = await verifyAuditLog(abs(ctx, positionals[0]!), head === undefined ? {} : { expectHead: head });
    ctx.print(`ok: ${s.records} record${s.records === 1 ? '' : 's'}, chain intact`);
    ctx.print(`head: ${s.head}`);
    ctx.print(s.firstTime === undefined ? 'time: (empty log)' : `time: ${s.firstTime} .. ${s.lastTime ?? s.firstTime}`);
    if (head !== undefined) ctx.print(`anchored head ${head}${anchoredAt === undefined ? '' : ` (transparency log entry ${anchoredAt})`} is in the file`);
    ctx.result({
      records: s.records,
      head: s.head,
      first_time: s.firstTime ?? null,
      last_time: s.lastTime ?? null,
      ...(head === undefined ? {} : { anchored_head: head }),
      ...(anchoredAt === undefined ? {} : { anchor_log_index: anchoredAt }),
    });
    return 0;
  },
};
