/**
 * cli/commands/serve — `custody serve`, the provider daemon (server/daemon), and what `npm start` runs.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { UsageError, type TrustError } from '../../errors.ts';
import type { Signer } from '../../crypto/index.ts';
import { isPkcs11Uri } from '../../hsm/uri.ts';
import { readFileBounded } from '../../io/files.ts';
import { tufKeyId } from '../../keys/key-id.ts';
import { parseDuration } from '../../encoding/time.ts';
import { abs, loadSigningKey, openTokenKey, postgresOption } from '../common.ts';
import { intOption, parseCommandArgs, type Command } from '../context.ts';
import type { DaemonOptions, RunningDaemon } from '../../server/daemon.ts';
import { OIDC_SERVE_OPTIONS, ensureDevToken, oidcOptions } from '../serve-oidc.ts';
import type { P2pFlags } from './p2p.ts';

/** DEFAULT_DATA_DIR is used when neither --data nor CUSTODY_DATA is given (relative to the working directory). */
export const DEFAULT_DATA_DIR = 'custody-data';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** shellWord quotes s for a POSIX shell when it holds anything but plainly safe characters. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_+/=.,:@%-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** fetchCommand is the exact `custody fetch` command that verifies and downloads a release of this daemon. */
function fetchCommand(url: string, fingerprint: string, vkey: string, channel: string, arch: string): string {
  return [
    'npx custody fetch',
    shellWord(url),
    '--root-fingerprint',
    shellWord(fingerprint),
    '--require-log',
    shellWord(vkey),
    '--channel',
    shellWord(channel),
    '--arch',
    shellWord(arch),
    '--output',
    shellWord(`${channel}-${arch}`),
  ].join(' ');
}

export const serve: Command = {
  summary: 'run the provider daemon: signed manifests, artifacts and the transparency log over HTTP(S)',
  usage: `usage: custody serve [--data DIR] [--port N] [--host ADDR] [options]

Serves signed channel/arch manifests and their artifacts, with the transparency log every manifest is logged in
under /log/. Everything lives in one data directory (default: $CUSTODY_DATA, else ./${DEFAULT_DATA_DIR}); on
first start it makes development keys (0600), a 1-of-1 trust root and an admin token there.

Publishing: put files in DIR/incoming/<channel>/<arch>/ (e.g. incoming/stable/x86_64/vmlinuz) and start the
daemon, send it SIGHUP, or POST /admin/v1/rescan; or upload with \`custody publish\`. Each changed channel/arch
is signed, appended to the log, and served with its inclusion proof. Manifests are re-signed before they expire.
*.intoto.jsonl files there are the release's attestations, served at /<channel>/<arch>/attestations (custody
promote writes this layout after its policy gate).

Prints the URL, the trust-root fingerprint (pin it: custody fetch --root-fingerprint) and the log verifier key.

options:
  --data DIR                  data directory (created 0700)
  --port N                    TCP port (default 8080; 0 picks a free one)
  --host ADDR                 listen address (default 127.0.0.1; 0.0.0.0 for the network)
  --incoming DIR              publish from DIR instead of DATA/incoming
  --key FILE                  manifest signing key instead of DATA/keys/signer.pem (sealed keys: CUSTODY_PASSPHRASE
                              or --passphrase-file), or a pkcs11: URI naming a key in a token (docs/keys.md);
                              /health answers 503 while the token fails
  --passphrase-file FILE      passphrase of --key
  --previous-key KEY          key rotation: the old manifest key (file or pkcs11: URI) also signs every manifest
                              while the trust root still names it, so clients on the old root keep accepting
                              (docs/keys.md, "Rotating the daemon's key"); repeatable
  --log-key URI               the transparency log's checkpoint key in a token (a pkcs11: URI naming an Ed25519 key,
                              made with custody keygen --pkcs11) instead of DATA/log/log.key or the --secrets store;
                              for a new data directory (a log keeps one key for life); --origin names the log
  --trust FILE                trust root instead of DATA/trust/root.json
  --token-file FILE           admin bearer token instead of DATA/admin.token
  --secrets STORE             keep the admin token, the signing key's passphrase and the log key in this
                              envelope-encrypted store (custody secrets; docs/keys.md "Secrets"), its keyring
                              opened with CUSTODY_PASSPHRASE or --passphrase-file and made on first use
  --secrets-keyring FILE      the store's keyring (default STORE/keyring)
  --origin ORIGIN             log origin on first start (default <hostname>/custody/log)
  --tls-cert FILE --tls-key FILE   serve HTTPS (PEM)
  --validity DAYS             validity of signed manifests (default 30)
  --tuf-timestamp-expiry D, --tuf-snapshot-expiry D, --tuf-targets-expiry D
                              validity of the TUF repository's metadata under /tuf/ (defaults 1d, 7d, 30d;
                              durations like 12h, 7d, 2w); re-signed when half (targets: a third) is left
  --rate-limit-per-ip N       requests per second per client address (default 50; 0 = off)
  --rate-limit-global N       requests per second for all clients (default 0 = off)
  --max-connections-per-ip N  open connections per client address, an IPv6 client's /64, per process
                              (default 256; 0 = off); more are closed when accepted
  --signing-rate-limit-per-token N, --signing-rate-limit-per-ip N
                              /v1 sign and verify requests per second per token and per address (defaults 20
                              and 50; 0 = off)
  --default CHANNEL/ARCH      also serve that manifest at /manifest.json
  --postgres-url-file F       keep the transparency log's state in PostgreSQL (connection string from F or
                              CUSTODY_POSTGRES_URL); --postgres-schema S names its schema (default custody_log)
  --shared-log                with --postgres-url-file: several daemons append to that one log (each batch a
                              compare-and-swap; they must share DATA/log/log.key; docs/log.md)
  --workers N                 processes serving the port (default: the number of cores, here ${availableParallelism()});
                              1 = a single process. With N > 1 a leader signs, logs and takes uploads, and
                              N workers serve manifests and artifacts (docs/provider.md)
  --log-level LEVEL           pino level on stderr: fatal, error, warn, info (default), debug
  --log-format json|pretty    log lines on stderr (default: pretty on a terminal, JSON otherwise)
  --no-sample                 do not publish the sample release on a first start
  --no-signing-api            do not serve the signing API under /v1 (docs/signing-api.md; its callers are made with
                              custody token create and custody identity add)
  --upload-policy F           the gatekeeper's tier rules, JSON or YAML (POST /v1/verify-and-permit-upload;
                              docs/signing-api.md "Upload policy"; default: any registered scanner)
  --oidc-issuer URL           accept OIDC bearer JWTs of this issuer on /v1 (repeatable; https, or http on loopback);
                              its callers sign keyless with 10-minute certificates of the daemon's CA
  --oidc-audience AUD         the "aud" their tokens must carry (once, or once per issuer)
  --oidc-identity-claim C     email (default; needs email_verified) or sub (once, or once per issuer)
  --oidc-scopes S,…           scopes of that issuer's callers (default sign,verify; once, or once per issuer)
  --dev                       development mode: real keys as always, a token with every scope in DATA/dev.token,
                              loopback only, "DEVELOPMENT" in the banner and a custody-mode header on /v1 answers

discovery (docs/discovery.md; libp2p is loaded only with these):
  --dht                       announce every channel/arch served in Custody's libp2p DHT (provider records bound
                              to this node's peer id; the URL is in its signed peer record)
  --mdns                      also be found on the local network (mDNS)
  --bootstrap MULTIADDR       join the DHT through this node (repeatable)
  --announce-url URL          the URL clients should fetch from (default: the listen URL)
  --p2p-listen MULTIADDR      libp2p listen address (default /ip4/127.0.0.1/tcp/0; repeatable)
  --ephemeral                 a fresh peer identity (default: DATA/p2p/peer.key, 0600, made on first start)
  --provider-ttl DURATION     provider record lifetime on the DHT (default 24h; re-announced at half of it)

mirror mode (docs/discovery.md): pull, verify and serve another provider's releases, byte for byte; never sign
  --mirror URL                upstream provider (repeatable; custody serve or another mirror)
  --root-fingerprint FP       the upstream trust root's fingerprint (required with --mirror)
  --require-log VKEY          refuse releases without an inclusion proof under this log key (and serve the proof)
  --mirror-interval DURATION  how often upstreams are polled (default 30s; e.g. 500ms, 10s, 5m)
  --channel CH, --arch A      mirror only these channels / archs (repeatable; default everything upstream lists)

examples:
  custody serve --data /var/lib/custody --host 0.0.0.0 --port 8080
  custody serve --data mirror-data --port 8081 --mirror http://127.0.0.1:8080 --root-fingerprint sha256:b5c8…`,
  async run(ctx) {
    const { values } = parseCommandArgs(
      ctx.argv,
      {
        data: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        incoming: { type: 'string' },
        key: { type: 'string' },
        'passphrase-file': { type: 'string' },
        'previous-key': { type: 'string', multiple: true },
        'log-key': { type: 'string' },
        trust: { type: 'string' },
        'token-file': { type: 'string' },
        secrets: { type: 'string' },
        'secrets-keyring': { type: 'string' },
        origin: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        validity: { type: 'string' },
        'tuf-timestamp-expiry': { type: 'string' },
        'tuf-snapshot-expiry': { type: 'string' },
        'tuf-targets-expiry': { type: 'string' },
        'rate-limit-per-ip': { type: 'string' },
        'rate-limit-global': { type: 'string' },
        'max-connections-per-ip': { type: 'string' },
        'signing-rate-limit-per-token': { type: 'string' },
        'signing-rate-limit-per-ip': { type: 'string' },
        default: { type: 'string' },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' },
        workers: { type: 'string' },
        'no-sample': { type: 'boolean' },
        'no-signing-api': { type: 'boolean' },
        'upload-policy': { type: 'string' },
        'postgres-url-file': { type: 'string' },
        'postgres-schema': { type: 'string' },
        ...OIDC_SERVE_OPTIONS,
        mirror: { type: 'string', multiple: true },
        'root-fingerprint': { type: 'string' },
        'require-log': { type: 'string' },
        'mirror-interval': { type: 'string' },
        channel: { type: 'string', multiple: true },
        arch: { type: 'string', multiple: true },
        dht: { type: 'boolean' },
        'announce-url': { type: 'string' },
        ephemeral: { type: 'boolean' },
        bootstrap: { type: 'string', multiple: true },
        mdns: { type: 'boolean' },
        'p2p-listen': { type: 'string', multiple: true },
        'provider-ttl': { type: 'string' },
        'shared-log': { type: 'boolean' },
      },
      false,
    );
    const p2p = values.dht === true || values.mdns === true;
    if (!p2p) {
      for (const f of ['announce-url', 'ephemeral', 'bootstrap', 'p2p-listen', 'provider-ttl'] as const) {
        if (values[f] !== undefined) throw new UsageError('ERR_USAGE_ARGUMENT', `--${f} goes with --dht or --mdns`);
      }
    }
    const dataDir = abs(ctx, values.data ?? ctx.env.CUSTODY_DATA ?? DEFAULT_DATA_DIR);
    const port = intOption(values.port ?? '8080', 'port', 0, 65_535)!;
    const level = values['log-level'] ?? 'info';
    if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) {
      throw new UsageError('ERR_USAGE_ARGUMENT', `--log-level: expected fatal, error, warn, info or debug, got ${JSON.stringify(level)}`);
    }
    // Readable lines on a terminal, JSON lines for everything else (journald, a collector, a file).
    const logFormat = values['log-format'] ?? (process.stderr.isTTY ? 'pretty' : 'json');
    if (logFormat !== 'json' && logFormat !== 'pretty') {
      throw new UsageError('ERR_USAGE_ARGUMENT', `--log-format: expected json or pretty, got ${JSON.stringify(logFormat)}`);
    }
    const workers = intOption(values.workers, 'workers', 1, 256) ?? availableParallelism();
    const perIp = intOption(values['rate-limit-per-ip'], 'rate-limit-per-ip', 0, 1_000_000);
    const connPerIp = intOption(values['max-connections-per-ip'], 'max-connections-per-ip', 0, 1_000_000);
    if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
      throw new UsageError('ERR_USAGE_ARGUMENT', '--tls-cert and --tls-key go together');
    }
    let tls: { cert: Uint8Array; key: Uint8Array } | undefined;
    if (values['tls-cert'] !== undefined && values['tls-key'] !== undefined) {
      const opts = { maxBytes: 1024 * 1024, allowSymlink: true };
      tls = {
        cert: await readFileBounded(abs(ctx, values['tls-cert']), { ...opts, what: 'TLS certificate' }),
        key: await readFileBounded(abs(ctx, values['tls-key']), { ...opts, what: 'TLS key' }),
      };
    }
    let defaultRelease: { channel: string; arch: string } | undefined;
    if (values.default !== undefined) {
      const [channel, arch, ...rest] = values.default.split('/');
      if (channel === undefined || arch === undefined || rest.length > 0) {
        throw new UsageError('ERR_USAGE_ARGUMENT', `--default: expected CHANNEL/ARCH, got ${JSON.stringify(values.default)}`);
      }
      defaultRelease = { channel, arch };
    }
    if (values.mirror !== undefined) {
      return runMirror(ctx, values, { dataDir, port, level, logFormat, tls, perIp, connPerIp, global: globalLimit(values['rate-limit-global']) });
    }
    for (const f of ['root-fingerprint', 'require-log', 'mirror-interval', 'channel', 'arch'] as const) {
      if (values[f] !== undefined) throw new UsageError('ERR_USAGE_ARGUMENT', `--${f} goes with --mirror`);
    }
    const postgres = await postgresOption(ctx, values['postgres-url-file'], values['postgres-schema'], values['shared-log']);
    const validityDays = intOption(values.validity, 'validity', 1, 365);
    const duration = (flag: 'tuf-timestamp-expiry' | 'tuf-snapshot-expiry' | 'tuf-targets-expiry'): number | undefined =>
      values[flag] === undefined ? undefined : parseDuration(values[flag], `--${flag}`);
    const tufExpiry = {
      ...(duration('tuf-timestamp-expiry') === undefined ? {} : { timestampMs: duration('tuf-timestamp-expiry')! }),
      ...(duration('tuf-snapshot-expiry') === undefined ? {} : { snapshotMs: duration('tuf-snapshot-expiry')! }),
      ...(duration('tuf-targets-expiry') === undefined ? {} : { targetsMs: duration('tuf-targets-expiry')! }),
    };
    const global = intOption(values['rate-limit-global'], 'rate-limit-global', 0, 10_000_000);
    const signPerToken = intOption(values['signing-rate-limit-per-token'], 'signing-rate-limit-per-token', 0, 10_000_000);
    const signPerIp = intOption(values['signing-rate-limit-per-ip'], 'signing-rate-limit-per-ip', 0, 10_000_000);
    const oidc = oidcOptions(values);
    const dev = values.dev === true;
    if (dev && !['127.0.0.1', 'localhost', '::1'].includes(values.host ?? '127.0.0.1')) {
      throw new UsageError('ERR_USAGE_ARGUMENT', '--dev listens on a loopback address only (its token has every scope)');
    }
    if (dev && values['no-signing-api'] === true) throw new UsageError('ERR_USAGE_ARGUMENT', '--dev needs the signing API (drop --no-signing-api)');

    let stop: (e?: TrustError) => void = () => {};
    const stopped = new Promise<TrustError | undefined>((r) => (stop = r));
    // Signal handlers before the (possibly long) start: SIGHUP's default action would kill the daemon, and a
    // SIGTERM during start must stop it once started. A SIGHUP during start asks for one more scan afterwards.
    let rescan: (() => void) | undefined;
    let hupDuringStart = false;
    const onSignal = (): void => stop();
    const onHup = (): void => {
      if (rescan) rescan();
      else hupDuringStart = true;
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    process.on('SIGHUP', onHup);
    try {
      // Loaded on demand: fastify and SQLite would cost every other command's startup otherwise.
      // A token key is opened here, once, with a small session pool (hsm/pkcs11); files are opened by the daemon.
      const signer = values.key !== undefined && isPkcs11Uri(values.key) ? await openTokenKey(ctx, values.key, 2) : undefined;
      const logKey = values['log-key'];
      if (logKey !== undefined && !isPkcs11Uri(logKey)) {
        throw new UsageError('ERR_USAGE_ARGUMENT', '--log-key takes a pkcs11: URI; a file log key lives in DATA/log/log.key (or the --secrets store)');
      }
      const logSigner = logKey === undefined ? undefined : await openTokenKey(ctx, logKey, 1);
      const previousSigners: Signer[] = [];
      for (const k of values['previous-key'] ?? []) previousSigners.push(await loadSigningKey(ctx, { key: k, passphraseFile: values['passphrase-file'] }));
      const options: DaemonOptions = {
        dataDir,
        host: values.host ?? '127.0.0.1',
        port,
        incomingDir: values.incoming === undefined ? undefined : abs(ctx, values.incoming),
        origin: values.origin,
        keyFile: values.key === undefined || signer !== undefined ? undefined : abs(ctx, values.key),
        signer,
        logSigner,
        previousSigners,
        trustFile: values.trust === undefined ? undefined : abs(ctx, values.trust),
        tokenFile: values['token-file'] === undefined ? undefined : abs(ctx, values['token-file']),
        passphrase: {
          passphraseFile: values['passphrase-file'] === undefined ? undefined : abs(ctx, values['passphrase-file']),
          env: ctx.env,
        },
        secrets:
          values.secrets === undefined
            ? undefined
            : { dir: abs(ctx, values.secrets), keyringPath: values['secrets-keyring'] === undefined ? undefined : abs(ctx, values['secrets-keyring']) },
        tls,
        ...(validityDays === undefined ? {} : { validityMs: validityDays * 86_400_000 }),
        ...(perIp === undefined ? {} : { rateLimitPerIp: perIp }),
        ...(connPerIp === undefined ? {} : { maxConnectionsPerIp: connPerIp }),
        ...(global === undefined ? {} : { rateLimitGlobal: global }),
        ...(signPerToken === undefined ? {} : { signingRateLimitPerToken: signPerToken }),
        ...(signPerIp === undefined ? {} : { signingRateLimitPerIp: signPerIp }),
        defaultRelease,
        tufExpiry,
        postgres,
        logLevel: level,
        logFormat,
        sample: values['no-sample'] !== true,
        signingApi: values['no-signing-api'] !== true,
        certus: { uploadPolicyFile: values['upload-policy'] === undefined ? undefined : abs(ctx, values['upload-policy']) },
        oidc,
        dev,
        onFatal: (e) => stop(e),
        version: packageVersion(),
      };
      let d: RunningDaemon;
      let url: string;
      let close: () => Promise<void>;
      let workerPids: number[] = [];
      // The new space stays small through the start (module loading, artifact import): see server/young-generation.
      const { holdYoungGeneration } = await import('../../server/young-generation.ts');
      const releaseYoungGeneration = holdYoungGeneration();
      if (workers > 1) {
        const { startCluster } = await import('../../server/cluster.ts');
        const c = await startCluster({ ...options, workers });
        d = c.daemon;
        url = c.url;
        close = () => c.close();
        workerPids = c.workerPids();
      } else {
        const { startDaemon } = await import('../../server/daemon.ts');
        d = await startDaemon(options);
        url = d.url;
        close = () => d.close();
      }
      releaseYoungGeneration();
      rescan = () => {
        d.rescan().catch(() => undefined);
      };
      if (hupDuringStart) rescan();
      const id = d.identity;
      const devToken = dev && d.auth !== undefined ? await ensureDevToken(d.auth, d.dataDir, ctx.now()) : undefined;
      if (devToken !== undefined) {
        ctx.print('custody serve: DEVELOPMENT MODE — real keys and signatures, a token with every scope, loopback only; not for production');
      }
      ctx.print(`custody serve: ${url}${workers > 1 ? `  (${workers} workers)` : ''}`);
      ctx.print(`  data directory     ${d.dataDir}${id.created.length > 0 ? `  (created: ${id.created.join(', ')})` : ''}`);
      ctx.print(`  trust root         ${url}/trust/root.json  version ${id.root.version}`);
      ctx.print(`  trust fingerprint  ${id.fingerprint}`);
      ctx.print(`  signing key        ${tufKeyId(id.signer.publicKey)}`);
      ctx.print(`  log                ${url}/log  ${d.vkey}`);
      ctx.print(`  admin token        ${id.tokenPath}`);
      const tufVersions = d.tuf?.versions;
      if (tufVersions !== undefined) {
        ctx.print(`  TUF repository     ${url}/tuf  (timestamp v${tufVersions.timestamp}, snapshot v${tufVersions.snapshot}, targets v${tufVersions.targets}; docs/tuf.md)`);
      } else {
        ctx.print(`  TUF repository     off: ${id.tufOff ?? 'not started'}`);
      }
      if (values['no-signing-api'] !== true) {
        ctx.print(`  signing API        ${url}/v1  (callers: custody token create --data ${shellWord(d.dataDir)} --name NAME --scope sign,verify)`);
      }
      for (const i of oidc?.issuers ?? []) {
        ctx.print(`  OIDC issuer        ${i.issuer}  audience ${i.audience}, identity ${i.identityClaim}, scopes ${i.scopes.join(',')}`);
      }
      if (oidc !== undefined) ctx.print(`  keyless CA         ${url}/v1/keys/keyless-ca.pem`);
      if (devToken !== undefined) ctx.print(`  dev token          ${devToken.path}  (every scope; CUSTODY_TOKEN=$(cat ${shellWord(devToken.path)}))`);
      ctx.print(`  publish            put files in ${d.incomingDir}/<channel>/<arch>/ then send SIGHUP (kill -HUP ${process.pid})`);
      for (const r of d.releases.list()) {
        ctx.print(`  release            ${url}/${r.channel}/${r.arch}/manifest.json  version ${r.manifest.manifest.version} sequence ${r.manifest.manifest.sequence}`);
      }
      if (id.created.includes('root key')) {
        ctx.print(`  note: development keys were created in ${d.dataDir}/keys; for production keep the root key offline`);
      }
      const sample = d.sample === undefined ? undefined : fetchCommand(url, id.fingerprint, d.vkey, d.sample.channel, d.sample.arch);
      if (sample !== undefined) {
        ctx.print(`  sample release     ${d.sample!.channel}/${d.sample!.arch} (made on this first start: two small generated files)`);
        ctx.print(`  try a verified fetch of it:`);
        ctx.print(`    ${sample}`);
      } else {
        ctx.print(`  verify a client:   custody fetch ${url} --root-fingerprint ${id.fingerprint} --require-log ${shellWord(d.vkey)} --channel C --arch A --output DIR`);
      }
      let announcer: { listenAddrs: string[]; peerId: string; stop: () => Promise<void> } | undefined;
      if (p2p) {
        const { announceForServe } = await import('./p2p.ts');
        announcer = await announceForServe(ctx, { ...values, data: d.dataDir }, url, () => d.releases.list().map((r) => ({ channel: r.channel, arch: r.arch, version: r.manifest.manifest.version })), (w) => {
          if (w.includes('failed')) ctx.stderr(`custody: warning: ${w}\n`);
        });
        const stopDaemon = close;
        close = async () => {
          await announcer?.stop().catch(() => undefined);
          await stopDaemon();
        };
      }
      ctx.result({
        ...(announcer === undefined ? {} : { p2p: { peer_id: announcer.peerId, listen: announcer.listenAddrs } }),
        url,
        data_dir: d.dataDir,
        trust_fingerprint: id.fingerprint,
        root_version: id.root.version,
        signer_key_id: tufKeyId(id.signer.publicKey),
        log_url: `${url}/log`,
        log_vkey: d.vkey,
        token_file: id.tokenPath,
        created: id.created,
        releases: d.releases.list().map((r) => ({ channel: r.channel, arch: r.arch, sequence: r.manifest.manifest.sequence })),
        workers: workerPids,
        signing_api: values['no-signing-api'] === true ? null : `${url}/v1`,
        mode: dev ? 'development' : 'production',
        oidc_issuers: (oidc?.issuers ?? []).map((i) => i.issuer),
        ...(devToken === undefined ? {} : { dev_token_file: devToken.path }),
        tuf: tufVersions === undefined ? null : { url: `${url}/tuf`, ...tufVersions },
        ...(sample === undefined ? {} : { sample: { channel: d.sample!.channel, arch: d.sample!.arch, fetch_command: sample } }),
      });
      const fatal = await stopped;
      await close();
      if (fatal) throw fatal;
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('SIGHUP', onHup);
    }
  },
};

function globalLimit(v: string | undefined): number | undefined {
  return intOption(v, 'rate-limit-global', 0, 10_000_000);
}

/** runMirror is `custody serve --mirror URL…` (server/mirror): one process, no signing key, no log. */
async function runMirror(
  ctx: Parameters<Command['run']>[0],
  values: { mirror?: string[]; 'root-fingerprint'?: string; 'require-log'?: string; 'mirror-interval'?: string; channel?: string[]; arch?: string[]; host?: string; workers?: string; key?: string; trust?: string; incoming?: string } & P2pFlags & { dht?: boolean; 'announce-url'?: string },
  o: { dataDir: string; port: number; level: string; logFormat: 'json' | 'pretty'; tls: { cert: Uint8Array; key: Uint8Array } | undefined; perIp: number | undefined; connPerIp: number | undefined; global: number | undefined },
): Promise<number> {
  const fingerprint = values['root-fingerprint'];
  if (fingerprint === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', '--mirror needs --root-fingerprint sha256:HEX (the upstream trust root it verifies against)');
  for (const f of ['key', 'trust', 'incoming'] as const) {
    if (values[f] !== undefined) throw new UsageError('ERR_USAGE_ARGUMENT', `--${f} does not go with --mirror: a mirror never signs or publishes`);
  }
  if (values.workers !== undefined && values.workers !== '1') throw new UsageError('ERR_USAGE_ARGUMENT', '--mirror runs one process: --workers 1 or nothing');
  const intervalMs = parseDuration(values['mirror-interval'] ?? '30s', '--mirror-interval', { minMs: 100, maxMs: 86_400_000, bareSeconds: true });
  let stop: () => void = () => {};
  const stopped = new Promise<void>((r) => (stop = r));
  let poll: (() => void) | undefined;
  const onSignal = (): void => stop();
  const onHup = (): void => poll?.();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.on('SIGHUP', onHup);
  try {
    const { startMirror } = await import('../../server/mirror/mirror-daemon.ts');
    const m = await startMirror({
      dataDir: o.dataDir,
      host: values.host ?? '127.0.0.1',
      port: o.port,
      upstreams: values.mirror ?? [],
      fingerprint,
      requireLog: values['require-log'],
      channels: values.channel,
      archs: values.arch,
      intervalMs,
      tls: o.tls,
      ...(o.perIp === undefined ? {} : { rateLimitPerIp: o.perIp }),
      ...(o.connPerIp === undefined ? {} : { maxConnectionsPerIp: o.connPerIp }),
      ...(o.global === undefined ? {} : { rateLimitGlobal: o.global }),
      logLevel: o.level,
      logFormat: o.logFormat,
      now: ctx.now,
      version: packageVersion(),
    });
    poll = () => void m.poll().catch(() => undefined);
    ctx.print(`custody serve (mirror): ${m.url}`);
    ctx.print(`  data directory     ${m.dataDir}`);
    ctx.print(`  upstreams          ${(values.mirror ?? []).join(' ')}  (polled every ${intervalMs} ms; SIGHUP polls now: kill -HUP ${process.pid})`);
    ctx.print(`  trust fingerprint  ${fingerprint}  (the upstream's; this mirror never signs)`);
    ctx.print(`  health             ${m.url}/health`);
    for (const r of m.mirror.list()) ctx.print(`  release            ${m.url}/${r.channel}/${r.arch}/manifest.json  sequence ${r.manifest.manifest.sequence}  (verified)`);
    let announcer: { listenAddrs: string[]; peerId: string; stop: () => Promise<void> } | undefined;
    if (values.dht === true || values.mdns === true) {
      const { announceForServe } = await import('./p2p.ts');
      // Only what the mirror serves (verified) is announced; new releases are picked up at the next check.
      announcer = await announceForServe(ctx, { ...values, data: m.dataDir }, m.url, () => m.mirror.list().map((r) => ({ channel: r.channel, arch: r.arch, version: r.manifest.manifest.version })), (w) => {
        if (w.includes('failed')) ctx.stderr(`custody: warning: ${w}\n`);
      }).catch(async (e: unknown) => {
        await m.close();
        throw e;
      });
    }
    ctx.result({
      ...(announcer === undefined ? {} : { p2p: { peer_id: announcer.peerId, listen: announcer.listenAddrs } }),
      url: m.url,
      data_dir: m.dataDir,
      mirror: true,
      upstreams: values.mirror ?? [],
      trust_fingerprint: fingerprint,
      log_vkey: values['require-log'] ?? null,
      releases: m.mirror.list().map((r) => ({ channel: r.channel, arch: r.arch, sequence: r.manifest.manifest.sequence })),
    });
    await stopped;
    await announcer?.stop().catch(() => undefined);
    await m.close();
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onHup);
  }
}
