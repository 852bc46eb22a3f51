/**
 * cli/commands/log — the transparency log commands: `custody log serve`, `log add`, `log monitor`,
 * `log verify-inclusion` and `log verify-consistency` (docs/log.md).
 */
import { decodeBase64 } from '../../encoding/bytes.ts';
import { decodeUtf8, isJsonObject, parseJsonObject } from '../../encoding/json.ts';
import { ConfigError, UsageError, isTrustError, type TrustError } from '../../errors.ts';
import { readFileBounded, writeFileAtomic } from '../../io/files.ts';
import { isPkcs11Uri } from '../../hsm/uri.ts';
import { openCheckpoint } from '../../note/checkpoint.ts';
import { parseVerifierKey, type Ed25519NoteVerifier } from '../../note/note.ts';
import { MAX_PROOF_FILE_BYTES, TLOG_PROOF_V1_HEADER, formatProofFile, parseProofFile, verifyProofFile } from '../../note/proof.ts';
import { parseWitnessSpec } from '../../server/log/witness-client.ts';
import { LogClient, MAX_CHECKPOINT_BYTES } from '../../log/client.ts';
import { HASH_BYTES, hashLeaf, verifyConsistency, verifyInclusion } from '../../tlog/merkle.ts';
import { checkLog, inclusionFromTiles, proveConsistencyFromTiles, type Checkpoint, type CheckpointOpener } from '../../log/monitor.ts';
import { MAX_ENTRY_BYTES } from '../../tlog/tile.ts';
import { abs, openTokenKey, postgresOption, readTokenFile } from '../common.ts';
import { intOption, parseCommandArgs, requireOption, type Command, type CommandContext } from '../context.ts';

function logKey(vkey: string | undefined): Ed25519NoteVerifier {
  return parseVerifierKey(requireOption(vkey, 'key'));
}

function opener(v: Ed25519NoteVerifier): CheckpointOpener {
  return (text) => openCheckpoint(text, v).checkpoint;
}

async function readSmall(ctx: CommandContext, path: string, maxBytes: number, what: string): Promise<Buffer> {
  return readFileBounded(abs(ctx, path), { maxBytes, what, allowSymlink: true });
}

/** checkpointFromFile accepts a checkpoint note file or a tlog-proof file and returns the checkpoint text. */
async function checkpointFromFile(ctx: CommandContext, path: string): Promise<Uint8Array> {
  const b = await readSmall(ctx, path, MAX_PROOF_FILE_BYTES, 'checkpoint');
  if (b.subarray(0, TLOG_PROOF_V1_HEADER.length + 1).toString('latin1') === TLOG_PROOF_V1_HEADER + '\n') {
    return parseProofFile(b).checkpoint;
  }
  if (b.length > MAX_CHECKPOINT_BYTES) throw new UsageError('ERR_USAGE_ARGUMENT', `${path} is too large for a checkpoint`);
  return b;
}

function describe(cp: Checkpoint): string {
  return `${cp.origin} size ${cp.size} root ${Buffer.from(cp.rootHash).toString('base64')}`;
}

// ---------------------------------------------------------------------------------------------------------------

export const logServe: Command = {
  summary: 'run a transparency log (C2SP tlog-tiles read path, POST add write path)',
  usage: `usage: custody log serve --data DIR --port N --origin ORIGIN --token-file F [options]

Starts one transparency log at http://HOST:N/log/. On first start the Ed25519 note signing key is created in
DIR/log.key (mode 0600) and reused afterwards; the entries live in DIR/log.db (SQLite, WAL, fsync per commit).
Prints the verifier key (ORIGIN+<8 hex>+<base64>) and the log URL on stdout, then serves until SIGINT/SIGTERM.

  POST /log/add                   Authorization: Bearer <token>; raw entry body (1 to 65,535 bytes);
                                  answers {"index", "checkpoint", "proof"} once durable and published
  GET  /log/checkpoint            signed checkpoint (c2sp.org/tlog-checkpoint)
  GET  /log/tile/<L>/<N>[.p/<W>]  Merkle tiles, /log/tile/entries/<N>[.p/<W>] entry bundles (c2sp.org/tlog-tiles)

options:
  --data DIR               data directory (created 0700)
  --port N                 TCP port; 0 picks a free one (see the printed URL)
  --host ADDR              listen address (default 127.0.0.1)
  --origin ORIGIN          checkpoint origin and key name, e.g. example.test/log
  --token-file F           file holding the bearer token writers must present (one line, ≥ 16 characters)
  --witness VKEY@URL       require a cosignature from this C2SP witness before publishing (repeatable)
  --witness-threshold N    how many --witness must cosign (default: all of them)
  --batch-delay MS         wait up to MS for more entries before sequencing (default 0 = group commit;
                           250 with witnesses)
  --batch-max N            entries per batch and checkpoint (default 4096)
  --rate-limit N           POST add requests per minute per client address (default 1200000)
  --postgres-url-file F    keep the log's entries, tiles and checkpoints in PostgreSQL (the connection string is
                           read from F, or from CUSTODY_POSTGRES_URL; never from the command line); the note key
                           stays in DIR/log.key
  --postgres-schema S      the schema holding this log's tables (default custody_log)
  --shared-log             with --postgres-url-file: several processes append to that one log (each batch a
                           compare-and-swap; they must share the note key; docs/log.md)
  --key 'pkcs11:…'         sign checkpoints with an Ed25519 key in a PKCS#11 token (RFC 7512 URI; docs/keys.md)
                           instead of DIR/log.key; the verifier key is ORIGIN with that key
  --log-level LEVEL        pino level on stderr: fatal, error, warn, info (default), debug

example:
  custody log serve --data ./log-data --port 8080 --origin example.test/log --token-file ./token`,
  async run(ctx) {
    const { values } = parseCommandArgs(
      ctx.argv,
      {
        data: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        origin: { type: 'string' },
        'token-file': { type: 'string' },
        witness: { type: 'string', multiple: true },
        'witness-threshold': { type: 'string' },
        'batch-delay': { type: 'string' },
        'batch-max': { type: 'string' },
        'rate-limit': { type: 'string' },
        'log-level': { type: 'string' },
        'postgres-url-file': { type: 'string' },
        'postgres-schema': { type: 'string' },
        'shared-log': { type: 'boolean' },
        key: { type: 'string' },
      },
      false,
    );
    const postgres = await postgresOption(ctx, values['postgres-url-file'], values['postgres-schema'], values['shared-log']);
    if (values.key !== undefined && !isPkcs11Uri(values.key)) {
      throw new UsageError('ERR_USAGE_ARGUMENT', '--key takes a pkcs11: URI; a file key is DIR/log.key (a PRIVATE+KEY+ note key)');
    }
    const dataDir = abs(ctx, requireOption(values.data, 'data'));
    const port = intOption(requireOption(values.port, 'port'), 'port', 0, 65_535)!;
    const origin = requireOption(values.origin, 'origin');
    const token = await readTokenFile(ctx, requireOption(values['token-file'], 'token-file'));
    const witnesses = (values.witness ?? []).map(parseWitnessSpec);
    const threshold = intOption(values['witness-threshold'], 'witness-threshold', 1, Math.max(1, witnesses.length));
    if (threshold !== undefined && witnesses.length === 0) {
      throw new UsageError('ERR_USAGE_ARGUMENT', '--witness-threshold needs at least one --witness');
    }
    const level = values['log-level'] ?? 'info';
    if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) {
      throw new UsageError('ERR_USAGE_ARGUMENT', `--log-level: expected fatal, error, warn, info or debug, got ${JSON.stringify(level)}`);
    }
    const service: Record<string, number> = {};
    const bd = intOption(values['batch-delay'], 'batch-delay', 0, 10_000);
    const bm = intOption(values['batch-max'], 'batch-max', 1, 65_536);
    const rl = intOption(values['rate-limit'], 'rate-limit', 1, 1_000_000_000);
    if (bd !== undefined) service.batchDelayMs = bd;
    if (bm !== undefined) service.batchMaxEntries = bm;
    if (rl !== undefined) service.addRateLimitPerMinute = rl;

    let stop: (e?: TrustError) => void = () => {};
    const stopped = new Promise<TrustError | undefined>((r) => (stop = r));
    const signer = values.key === undefined ? undefined : await openTokenKey(ctx, values.key);
    // Loaded on demand: the daemon's dependencies (fastify, SQLite) cost every other command's startup otherwise.
    const { startLogServer } = await import('../../server/log/server.ts');
    const server = await startLogServer({
      dataDir,
      origin,
      tokens: [token],
      host: values.host ?? '127.0.0.1',
      port,
      witnesses,
      ...(threshold === undefined ? {} : { witnessThreshold: threshold }),
      service,
      logLevel: level,
      onFatal: (e) => stop(e),
      postgres,
      signer,
    });
    ctx.print(server.vkey);
    ctx.print(server.url);
    ctx.result({ verifier_key: server.vkey, url: server.url, key_created: server.keyCreated });
    ctx.stderr(`custody: log ${origin} serving at ${server.url} (${server.keyCreated ? 'new key' : 'existing key'})\n`);
    const onSignal = (): void => stop();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const fatal = await stopped;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await server.close();
    if (fatal) throw fatal;
    return 0;
  },
};

export const logAdd: Command = {
  summary: 'submit an entry to a log and save its offline proof (tlog-proof@v1)',
  usage: `usage: custody log add URL --token-file F --entry FILE --key VKEY [--output PROOF]

Posts the bytes of FILE (1 to 65,535) to URL/add, verifies the answer (checkpoint signature under VKEY and the
inclusion proof of the entry) and writes a c2sp.org/tlog-proof@v1 file to PROOF (default: FILE.tlog-proof).

example:
  custody log add http://127.0.0.1:8080/log --token-file ./token --entry digest.txt --key "$(cat log.vkey)"`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      'token-file': { type: 'string' },
      entry: { type: 'string' },
      key: { type: 'string' },
      output: { type: 'string' },
    });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected the log URL');
    const verifier = logKey(values.key);
    const token = new TextDecoder().decode(await readTokenFile(ctx, requireOption(values['token-file'], 'token-file')));
    const entryPath = requireOption(values.entry, 'entry');
    const entry = await readSmall(ctx, entryPath, MAX_ENTRY_BYTES, 'entry');
    const r = await new LogClient(positionals[0]!).add(entry, token);
    const { checkpoint } = openCheckpoint(r.checkpoint, verifier);
    verifyInclusion(hashLeaf(entry), r.index, checkpoint.size, r.proof, checkpoint.rootHash);
    const out = abs(ctx, values.output ?? `${entryPath}.tlog-proof`);
    await writeFileAtomic(out, formatProofFile({ index: r.index, proof: r.proof, checkpoint: r.checkpoint }));
    ctx.print(`index ${r.index} in ${describe(checkpoint)}`);
    ctx.print(`proof: ${out}`);
    ctx.result({ index: r.index, size: checkpoint.size, proof_path: out });
    return 0;
  },
};

export const logVerifyInclusion: Command = {
  summary: 'verify that an entry is in a log (offline from a tlog-proof file, or from the tiles)',
  usage: `usage: custody log verify-inclusion --proof FILE --key VKEY (--entry FILE | --url URL)
       custody log verify-inclusion URL --index N --key VKEY [--entry FILE] [--output PROOF]

With --proof: verifies a c2sp.org/tlog-proof@v1 file offline: the checkpoint signature under VKEY and the
inclusion of the entry (--entry FILE; or, with --url, the entry the log holds at the proof's index, fetched and
checked against its tiles).
With URL --index N: fetches the log's checkpoint and tiles, verifies the signature, authenticates the tiles and the
entry at index N, and verifies its inclusion; --entry also checks the entry's bytes; --output writes a proof file.

Exit status: 0 verified, 1 refused (bad signature, not included, malformed), 2 usage, 3 network or file error.`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      proof: { type: 'string' },
      key: { type: 'string' },
      entry: { type: 'string' },
      url: { type: 'string' },
      index: { type: 'string' },
      output: { type: 'string' },
    });
    const verifier = logKey(values.key);
    const entry = values.entry === undefined ? undefined : await readSmall(ctx, values.entry, MAX_ENTRY_BYTES, 'entry');
    if (values.proof !== undefined) {
      if (positionals.length !== 0 || values.index !== undefined) {
        throw new UsageError('ERR_USAGE_ARGUMENT', 'pass either --proof FILE or URL --index N');
      }
      const file = await readSmall(ctx, values.proof, MAX_PROOF_FILE_BYTES, 'proof file');
      let bytes = entry;
      if (bytes === undefined) {
        const url = values.url;
        if (url === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'pass --entry FILE (offline) or --url URL');
        const { index } = parseProofFile(file);
        bytes = Buffer.from((await inclusionFromTiles({ client: new LogClient(url), open: opener(verifier), index })).entry);
      }
      const v = verifyProofFile(file, { entry: bytes }, verifier);
      ctx.print(`ok: entry ${v.index} is in ${describe(v.checkpoint)}`);
      ctx.result({ index: v.index, origin: v.checkpoint.origin, size: v.checkpoint.size });
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected --proof FILE, or the log URL with --index N');
    const index = intOption(requireOption(values.index, 'index'), 'index', 0, Number.MAX_SAFE_INTEGER)!;
    const r = await inclusionFromTiles({
      client: new LogClient(positionals[0]!),
      open: opener(verifier),
      index,
      ...(entry === undefined ? {} : { entry }),
    });
    if (values.output !== undefined) {
      await writeFileAtomic(abs(ctx, values.output), formatProofFile({ index, proof: r.proof, checkpoint: r.text }));
    }
    ctx.print(`ok: entry ${index} is in ${describe(r.checkpoint)}`);
    ctx.result({ index, origin: r.checkpoint.origin, size: r.checkpoint.size });
    return 0;
  },
};

export const logVerifyConsistency: Command = {
  summary: 'verify that an older checkpoint is a prefix of a newer one (offline or from the tiles)',
  usage: `usage: custody log verify-consistency --old FILE --key VKEY (--new FILE --proof HASHES | --url URL)

FILE is a checkpoint note or a tlog-proof@v1 file (its checkpoint is used). Offline, HASHES holds the RFC 6962
consistency proof from --old to --new, one base64 hash per line. With --url, the newer checkpoint is the log's
current one and the proof is computed from its tiles (the old one may also be the newer: a stale log is checked
the other way round). Both checkpoints must be signed by VKEY.

Exit status: 0 consistent, 1 refused (fork, bad signature, old size > new size), 2 usage, 3 network or file error.`,
  async run(ctx) {
    const { values } = parseCommandArgs(
      ctx.argv,
      { old: { type: 'string' }, new: { type: 'string' }, proof: { type: 'string' }, key: { type: 'string' }, url: { type: 'string' } },
      false,
    );
    const verifier = logKey(values.key);
    const open = opener(verifier);
    const oldText = await checkpointFromFile(ctx, requireOption(values.old, 'old'));
    const oldCp = open(oldText);
    if (values.url !== undefined) {
      if (values.new !== undefined || values.proof !== undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'pass either --url or --new/--proof');
      const client = new LogClient(values.url);
      const newText = await client.fetchCheckpoint();
      const newCp = open(newText);
      const a = { cp: oldCp, text: new TextDecoder().decode(oldText) };
      const b = { cp: newCp, text: newText };
      if (oldCp.size <= newCp.size) await proveConsistencyFromTiles(client, a, b);
      else await proveConsistencyFromTiles(client, b, a);
      ctx.print(`ok: ${describe(oldCp)} and ${describe(newCp)} are consistent`);
      ctx.result({ old_size: oldCp.size, new_size: newCp.size });
      return 0;
    }
    const newCp = open(await checkpointFromFile(ctx, requireOption(values.new, 'new')));
    const proofText = decodeUtf8(await readSmall(ctx, requireOption(values.proof, 'proof'), 64 * 1024, 'proof'), 'proof');
    const lines = proofText.split('\n').filter((l, i, all) => !(l === '' && i === all.length - 1));
    const proof = lines.map((l, i) => decodeBase64(l, HASH_BYTES, `proof line ${i + 1}`));
    verifyConsistency(oldCp.size, newCp.size, proof, oldCp.rootHash, newCp.rootHash);
    ctx.print(`ok: ${describe(oldCp)} and ${describe(newCp)} are consistent`);
    ctx.result({ old_size: oldCp.size, new_size: newCp.size });
    return 0;
  },
};

// ---------------------------------------------------------------------------------------------------------------

/** STATE_MAX_BYTES caps the monitor state file. */
const STATE_MAX_BYTES = MAX_CHECKPOINT_BYTES + 4096;

async function loadState(ctx: CommandContext, path: string): Promise<string | null> {
  let raw: Buffer;
  try {
    raw = await readFileBounded(abs(ctx, path), { maxBytes: STATE_MAX_BYTES, what: 'monitor state' });
  } catch (e) {
    if (isTrustError(e) && e.code === 'ERR_IO_NOT_FOUND') return null;
    throw e;
  }
  const o = parseJsonObject(raw, { what: 'monitor state' });
  const cp = o.checkpoint;
  if (!isJsonObject(o) || typeof cp !== 'string') {
    throw new ConfigError('ERR_CONFIG_INVALID', `${path}: expected {"checkpoint": "<signed checkpoint>"}`);
  }
  return cp;
}

function forkReport(ctx: CommandContext, e: TrustError, statePath: string | undefined): void {
  const d = e.details ?? {};
  const indent = (t: unknown): string => String(t).trimEnd().split('\n').map((l) => `    ${l}`).join('\n');
  ctx.print('FORK DETECTED: the log signed two checkpoints that are not consistent.');
  ctx.print(`  verified before${statePath ? ` (kept in ${statePath})` : ''}:`);
  ctx.print(indent(d.verifiedCheckpoint));
  ctx.print('  served now:');
  ctx.print(indent(d.newCheckpoint));
  ctx.print(`  reason: ${e.message}`);
  ctx.print('  Keep both signed checkpoints: together they prove the misbehaviour.');
}

export const logMonitor: Command = {
  summary: 'follow a log: verify every new checkpoint and its consistency with the last verified one',
  usage: `usage: custody log monitor URL --key VKEY [--state FILE] [--once] [--interval SECONDS]

Fetches URL/checkpoint, verifies its signature under VKEY, authenticates the tiles against it and proves, from the
tiles, that the last verified checkpoint is a prefix of the new one. The last verified checkpoint is kept in FILE
(JSON, replaced atomically; without --state, in memory only). Prints one line per new checkpoint.
On a fork or a bad signature it prints a report with both checkpoints and exits 1. Network errors and answers
with HTTP status 5xx or 429 are retried every interval (with --once they exit 3); a malformed answer exits 3.

options:
  --key VKEY          the log's verifier key (ORIGIN+<8 hex>+<base64>)
  --state FILE        where the last verified checkpoint is kept
  --once              check once and exit
  --interval SECONDS  pause between checks (default 10)`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      key: { type: 'string' },
      state: { type: 'string' },
      once: { type: 'boolean' },
      interval: { type: 'string' },
    });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected the log URL');
    const verifier = logKey(values.key);
    const interval = intOption(values.interval, 'interval', 1, 86_400) ?? 10;
    const client = new LogClient(positionals[0]!);
    const statePath = values.state;
    let previous = statePath === undefined ? null : await loadState(ctx, statePath);
    if (previous !== null) opener(verifier)(previous); // the saved state must verify under the same key
    let stopping = false;
    const onSignal = (): void => {
      stopping = true;
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      for (;;) {
        let r;
        try {
          r = await checkLog(previous, { client, open: opener(verifier) });
        } catch (e) {
          if (isTrustError(e) && e.code === 'ERR_LOG_FORK') forkReport(ctx, e, statePath);
          // Network failures, and a log answering 5xx or 429 (overloaded, restarting, rate limiting us), are retried;
          // a malformed answer (ERR_LOG_RESPONSE without such a status) or any verification failure is fatal.
          const status = isTrustError(e) ? e.details?.['status'] : undefined;
          const busy = typeof status === 'number' && (status === 429 || (status >= 500 && status <= 599));
          const transient = isTrustError(e) && ((e.kind === 'io' && e.code !== 'ERR_LOG_RESPONSE') || busy);
          if (values.once || !transient) throw e;
          ctx.stderr(`custody: warning: ${(e as Error).message}; retrying in ${interval} s\n`);
          r = undefined;
        }
        if (r !== undefined) {
          const cp = r.checkpoint;
          if (r.change === 'stale') {
            ctx.stderr(`custody: warning: the log served an older checkpoint (size ${cp.size} < ${r.previous!.size}); it is consistent\n`);
          } else if (r.change !== 'unchanged' || values.once) {
            ctx.print(`${r.change === 'first' ? 'verified' : r.change} ${describe(cp)}`);
          }
          if (r.change === 'first' || r.change === 'grew') {
            previous = r.text;
            if (statePath !== undefined) {
              await writeFileAtomic(abs(ctx, statePath), JSON.stringify({ origin: cp.origin, size: cp.size, checkpoint: r.text }) + '\n', {
                mode: 0o644,
              });
            }
          }
          if (values.once) {
            ctx.result({ change: r.change, origin: cp.origin, size: cp.size });
            return 0;
          }
        }
        for (let waited = 0; waited < interval * 10 && !stopping; waited++) await new Promise((res) => setTimeout(res, 100));
        if (stopping) return 0;
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
