/**
 * cli/commands/witness — `custody witness serve`: a C2SP tlog-witness (docs/log.md "Witnesses").
 */
import { UsageError } from '../../errors.ts';
import { isPkcs11Uri } from '../../hsm/uri.ts';
import { parseVerifierKey } from '../../note/note.ts';
import { abs, openTokenKey } from '../common.ts';
import { intOption, parseCommandArgs, requireOption, type Command } from '../context.ts';

export const witnessServe: Command = {
  summary: 'run a C2SP transparency log witness (add-checkpoint, cosignature/v1)',
  usage: `usage: custody witness serve --data DIR --port N --log VKEY [--log VKEY …] [--name NAME] [--host ADDR]

Serves POST http://HOST:N/add-checkpoint (c2sp.org/tlog-witness) for the logs whose verifier keys are given:
checks each checkpoint's signature and its consistency with the last one cosigned for that log (kept in
DIR/witness.db, SQLite), then answers with an Ed25519 cosignature/v1. The witness key is created in
DIR/witness.key (mode 0600) on first start. Prints the witness verifier key (NAME+<8 hex>+<base64>, type 0x04)
and its URL on stdout; pass them to the log as --witness VKEY@URL.

Answers: 200 cosignature; 400 malformed or old size > size; 403 no valid log signature; 404 unknown log;
409 old size mismatch (body: the witness's size, text/x.tlog.size) or same size with another root; 422 bad proof.

options:
  --data DIR      data directory (created 0700)
  --port N        TCP port; 0 picks a free one
  --host ADDR     listen address (default 127.0.0.1)
  --log VKEY      a log to witness (its origin is the key name); repeatable
  --name NAME     witness key name, a schema-less URL (default custody-witness; fixed when the key is created)
  --key 'pkcs11:…'  cosign with an Ed25519 key in a PKCS#11 token (RFC 7512 URI; docs/keys.md) instead of
                  DIR/witness.key
  --log-level L   pino level on stderr: fatal, error, warn, info (default), debug
  --rate-limit-per-ip N   requests per second per client address (default 50; 0 = off); 429 ERR_HTTP_RATE_LIMITED
  --rate-limit-global N   requests per second for all clients together (default 0 = off)
  --max-connections-per-ip N  open connections one client address may hold (default 256; 0 = off)
  --idle-timeout S        close connections silent for S seconds (default 60)`,
  async run(ctx) {
    const { values } = parseCommandArgs(
      ctx.argv,
      {
        data: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        log: { type: 'string', multiple: true },
        name: { type: 'string' },
        'log-level': { type: 'string' },
        'rate-limit-per-ip': { type: 'string' },
        'rate-limit-global': { type: 'string' },
        'max-connections-per-ip': { type: 'string' },
        'idle-timeout': { type: 'string' },
        key: { type: 'string' },
      },
      false,
    );
    // Checked before anything is created (witness.key, witness.db): pino would throw an uncoded error later.
    const level = values['log-level'] ?? 'info';
    if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) {
      throw new UsageError('ERR_USAGE_ARGUMENT', `--log-level: expected fatal, error, warn, info or debug, got ${JSON.stringify(level)}`);
    }
    if (values.key !== undefined && !isPkcs11Uri(values.key)) {
      throw new UsageError('ERR_USAGE_ARGUMENT', '--key takes a pkcs11: URI; a file key is DIR/witness.key');
    }
    const portText = requireOption(values.port, 'port');
    if (!/^(0|[1-9][0-9]{0,4})$/.test(portText) || Number(portText) > 65_535) {
      throw new UsageError('ERR_USAGE_ARGUMENT', `--port: expected 0 to 65535, got ${JSON.stringify(portText)}`);
    }
    const logs = (values.log ?? []).map((k) => parseVerifierKey(k));
    if (logs.length === 0) throw new UsageError('ERR_USAGE_ARGUMENT', 'missing required option --log');
    const { startWitnessServer } = await import('../../server/witness/server.ts');
    const perIp = intOption(values['rate-limit-per-ip'], 'rate-limit-per-ip', 0, 1_000_000);
    const global = intOption(values['rate-limit-global'], 'rate-limit-global', 0, 10_000_000);
    const idleS = intOption(values['idle-timeout'], 'idle-timeout', 1, 3_600);
    const perIpConnections = intOption(values['max-connections-per-ip'], 'max-connections-per-ip', 0, 1_000_000);
    const signer = values.key === undefined ? undefined : await openTokenKey(ctx, values.key);
    const server = await startWitnessServer({
      signer,
      ...(perIp === undefined ? {} : { rateLimitPerIp: perIp }),
      ...(global === undefined ? {} : { rateLimitGlobal: global }),
      ...(idleS === undefined ? {} : { idleTimeoutMs: idleS * 1000 }),
      ...(perIpConnections === undefined ? {} : { maxConnectionsPerIp: perIpConnections }),
      dataDir: abs(ctx, requireOption(values.data, 'data')),
      name: values.name,
      logs,
      host: values.host ?? '127.0.0.1',
      port: Number(portText),
      logLevel: level,
    });
    ctx.print(server.vkey);
    ctx.print(server.url);
    ctx.result({ verifier_key: server.vkey, url: server.url });
    ctx.stderr(`custody: witness serving ${logs.length} log(s) at ${server.url}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    await server.close();
    return 0;
  },
};
