/**
 * cli/commands/vuln — `custody vulndb import DIR|ZIP [--db PATH]` and `custody scan SBOM [--db PATH]`: the offline
 * vulnerability database (vuln/db) and the SBOM scan (vuln/scan) over it. docs/attestations.md, "Vulnerability
 * database and scan".
 */
import { PolicyError, UsageError } from '../../errors.ts';
import { readFileBounded } from '../../io/files.ts';
import { SBOM_MAX_BYTES, readSbomComponents } from '../../sbom/read.ts';
import { defaultVulnDbPath, importOsv, openVulnDb } from '../../vuln/db.ts';
import { scanComponents, type Finding } from '../../vuln/scan.ts';
import { abs } from '../common.ts';
import { parseCommandArgs, type Command, type CommandContext } from '../context.ts';
import { safe } from './printable.ts';

/** WARNINGS_PRINTED caps the warning lines one command prints (the rest are counted). */
const WARNINGS_PRINTED = 50;

function warner(ctx: CommandContext): { warn: (m: string) => void; flush: () => void; count: () => number } {
  let n = 0;
  return {
    warn: (m) => {
      n++;
      if (n <= WARNINGS_PRINTED) ctx.stderr(`custody: warning: ${safe(m)}\n`);
    },
    flush: () => {
      if (n > WARNINGS_PRINTED) ctx.stderr(`custody: warning: … and ${n - WARNINGS_PRINTED} more warnings\n`);
    },
    count: () => n,
  };
}

function dbPath(ctx: CommandContext, db: string | undefined): string {
  return db !== undefined ? abs(ctx, db) : abs(ctx, defaultVulnDbPath(ctx.env));
}

export const vulndbImport: Command = {
  summary: 'load OSV vulnerability records (a directory of .json or an osv.dev all.zip) into the offline database',
  usage: `usage: custody vulndb import DIR|ZIP [--db PATH] [--json]

Reads every .json OSV record (https://ossf.github.io/osv-schema/) of DIR (searched recursively; symlinks skipped) or
of a ZIP file as osv.dev exports them per ecosystem (https://osv-vulnerabilities.storage.googleapis.com/npm/all.zip)
into an SQLite database, atomically: a refused record or archive leaves the database exactly as it was. A record
replaces a stored one with the same id unless the stored one is newer (modified). Ranges of an unknown type are
ignored with a warning; GIT ranges are kept out of matching (their versions[] list is used).

options:
  --db PATH   the database (default: $CUSTODY_VULNDB, else $XDG_CACHE_HOME/custody/vulndb.sqlite, else
              ~/.cache/custody/vulndb.sqlite); created with its directory when missing
  --json      print {"ok":true,"db":PATH,"files":N,"imported":N,"unchanged":N,"withdrawn":N,"packages":N,
              "git_ranges":N,"unknown_range_types":{TYPE:N},"warnings":[…]}

exit status: 0 imported, 1 refused (ERR_VULN_RECORD_MALFORMED, ERR_VULN_RECORD_LIMIT, ERR_VULN_IMPORT_EMPTY,
ERR_ZIP_*), 2 usage or a database of another layout (ERR_VULN_DB_INVALID), 3 unreadable or unwritable.

example:
  curl -sO https://osv-vulnerabilities.storage.googleapis.com/npm/all.zip     # on a connected host
  custody vulndb import all.zip --db vulndb.sqlite
  custody vulndb import ./osv-records/ --db vulndb.sqlite --json`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, { db: { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', `expected one directory or zip file, got ${positionals.length}`);
    const db = dbPath(ctx, values.db);
    const w = warner(ctx);
    const s = await importOsv(abs(ctx, positionals[0]!), db, { onWarning: w.warn });
    w.flush();
    const unknown = Object.entries(s.unknownRangeTypes);
    if (unknown.length > 0) {
      const n = unknown.reduce((a, [, c]) => a + c, 0);
      ctx.stderr(`custody: warning: ${n} range${n === 1 ? '' : 's'} of unknown type ignored (${unknown.map(([t, c]) => `${safe(t)}: ${c}`).join(', ')})\n`);
    }
    ctx.print(`imported ${s.imported} record${s.imported === 1 ? '' : 's'} from ${s.files} file${s.files === 1 ? '' : 's'} into ${db}`);
    ctx.print(`  ${s.unchanged} unchanged (a newer one was stored), ${s.withdrawn} withdrawn, ${s.packages} package entries, ${s.gitRanges} GIT ranges not evaluated`);
    ctx.result({
      db,
      files: s.files,
      imported: s.imported,
      unchanged: s.unchanged,
      withdrawn: s.withdrawn,
      packages: s.packages,
      git_ranges: s.gitRanges,
      unknown_range_types: s.unknownRangeTypes,
      warnings: s.warnings,
    });
    return 0;
  },
};

function findingLine(f: Finding): string {
  const sev = f.score === undefined ? f.severity : `${f.severity} ${f.score.toFixed(1)}`;
  const fix = f.undecided === true ? `undecided: ${f.note ?? 'version cannot be ordered'}` : f.fixed === undefined ? 'no fixed version' : `fixed in ${f.fixed}`;
  const aliases = f.aliases.length > 0 ? ` (${f.aliases.join(', ')})` : '';
  return safe(`${f.id}  ${sev}  ${f.purl}  ${fix}${aliases}`);
}

export const scan: Command = {
  summary: 'match the components of an SBOM (SPDX or CycloneDX JSON) against the offline vulnerability database',
  usage: `usage: custody scan SBOM [--db PATH] [--json]

Reads the components of SBOM (SPDX 2.3 or CycloneDX 1.4-1.6 JSON) and matches each one's purl and version against
the OSV records imported with \`custody vulndb import\`: versions[] exactly, SEMVER ranges by SemVer 2.0, ECOSYSTEM
ranges by npm's semver for npm and a documented generic ordering for other ecosystems (docs/attestations.md).
Prints one line per finding: id, severity (CVSS v3.x base score when the record has a vector), purl, the fixed
version, aliases. Components without a purl or version cannot be matched and are named in warnings on stderr. A
component whose version a matching record's range cannot order (e.g. npm "1.2", not SemVer) is listed as an
undecided finding of severity unknown: the scan fails closed on it.

options:
  --db PATH   the database (default: $CUSTODY_VULNDB, else $XDG_CACHE_HOME/custody/vulndb.sqlite, else
              ~/.cache/custody/vulndb.sqlite); opened read-only
  --json      print {"ok":true,"components":N,"findings":[],"max_severity":"none"} when clean; with findings the
              error object carries them: {"ok":false,"code":"ERR_VULN_FOUND",…,"details":{"findings":[…],
              "max_severity":S}}

exit status: 0 no findings, 1 findings (ERR_VULN_FOUND) or an unreadable SBOM (ERR_SBOM_READ_*, ERR_LIMIT_*),
2 usage or no database (ERR_VULN_DB_MISSING), 3 unreadable file.

example:
  custody vulndb import osv-records/ --db vulndb.sqlite
  custody scan app.spdx.json --db vulndb.sqlite
  custody scan bom.cdx.json --db vulndb.sqlite --json`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, { db: { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', `expected one sbom file, got ${positionals.length}`);
    const sbom = readSbomComponents(await readFileBounded(abs(ctx, positionals[0]!), { maxBytes: SBOM_MAX_BYTES, allowSymlink: true, what: 'sbom' }));
    const db = openVulnDb(dbPath(ctx, values.db));
    const w = warner(ctx);
    let result;
    try {
      result = scanComponents(db, sbom.components, { onWarning: w.warn });
    } finally {
      db.close();
    }
    w.flush();
    const n = sbom.components.length;
    if (result.findings.length === 0) {
      ctx.print(`no known vulnerabilities in ${n} component${n === 1 ? '' : 's'}`);
      ctx.result({ components: n, findings: [], max_severity: 'none' });
      return 0;
    }
    for (const f of result.findings) ctx.print(findingLine(f));
    const k = result.findings.length;
    throw new PolicyError('ERR_VULN_FOUND', `${k} finding${k === 1 ? '' : 's'} in ${n} component${n === 1 ? '' : 's'}, highest severity ${result.maxSeverity}`, {
      details: { components: n, findings: result.findings, max_severity: result.maxSeverity },
    });
  },
};
