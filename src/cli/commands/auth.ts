/**
 * cli/commands/auth — `custody token create|list|revoke` and `custody identity add|list|revoke`: the callers of the
 * signing API (docs/signing-api.md). They write the same store the daemon reads on every request (auth/store:
 * DATA/auth.db, or the PostgreSQL auth schema with --postgres-url-file), so a running daemon honours a new or
 * revoked token or identity at its next request.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { checkName, createToken, parseScopeList, registerIdentity } from '../../auth/auth.ts';
import { parseDuration } from '../../encoding/time.ts';
import { AUTH_DB_FILE, openAuthStore } from '../../auth/open.ts';
import type { AuthStore, IdentityRecord, TokenRecord } from '../../auth/store.ts';
import { parseTokenKeyText, withTokenKey } from '../../auth/token-key.ts';
import { ConfigError, UsageError, toIoError } from '../../errors.ts';
import { DAEMON_SECRET_NAMES } from '../../server/daemon-secrets.ts';
import { pathExists } from '../../io/files.ts';
import { loadPublicKey } from '../../keys/key-file.ts';
import { abs, postgresOption } from '../common.ts';
import { parseCommandArgs, requireOption, type Command, type CommandContext } from '../context.ts';
import { DEFAULT_DATA_DIR } from './serve.ts';

/** DEFAULT_TOKEN_TTL is the lifetime of an API token when --expires is not given. */
export const DEFAULT_TOKEN_TTL = '90d';

const STORE_OPTIONS = {
  data: { type: 'string' },
  'postgres-url-file': { type: 'string' },
  'postgres-schema': { type: 'string' },
  secrets: { type: 'string' },
  'secrets-keyring': { type: 'string' },
  'passphrase-file': { type: 'string' },
} as const;

const STORE_HELP = `  --data DIR                  the daemon's data directory (default: $CUSTODY_DATA, else ./${DEFAULT_DATA_DIR});
                              the state is DIR/auth.db
  --postgres-url-file F       the daemon keeps its log in PostgreSQL: the state is in schema <S>_auth of that
                              database (connection string from F or CUSTODY_POSTGRES_URL)
  --postgres-schema S         the daemon's --postgres-schema (default custody_log)
  --secrets STORE             the daemon's --secrets store: token digests are keyed by its daemon.token-hmac-key
                              (docs/keys.md "API tokens"); its keyring opened with CUSTODY_PASSPHRASE or
                              --passphrase-file (--secrets-keyring F as for serve). Use it whenever the daemon has it`;

/**
 * withStore opens the store the daemon of --data (or --postgres-url-file) reads, runs fn, and closes it. `create`
 * (token create, identity add) makes DATA/auth.db in an existing data directory; `existing` (list, revoke) opens
 * only a store that is there. Neither makes the data directory: a mistyped --data must not grow a second, empty
 * store that no daemon reads (a list would show nothing, a revoke would not reach the daemon).
 */
async function withStore<T>(
  ctx: CommandContext,
  mode: 'create' | 'existing',
  values: {
    data?: string | undefined;
    'postgres-url-file'?: string | undefined;
    'postgres-schema'?: string | undefined;
    secrets?: string | undefined;
    'secrets-keyring'?: string | undefined;
    'passphrase-file'?: string | undefined;
  },
  fn: (s: AuthStore) => Promise<T>,
): Promise<T> {
  const key = values.secrets === undefined ? undefined : await tokenKeyFrom(ctx, values.secrets, values['secrets-keyring'], values['passphrase-file']);
  const dataDir = abs(ctx, values.data ?? ctx.env.CUSTODY_DATA ?? DEFAULT_DATA_DIR);
  const postgres = await postgresOption(ctx, values['postgres-url-file'], values['postgres-schema']);
  if (postgres === undefined) {
    const where = values.data !== undefined ? '--data' : ctx.env.CUSTODY_DATA !== undefined ? '$CUSTODY_DATA' : `the default ./${DEFAULT_DATA_DIR}`;
    const dir = await fsp.stat(dataDir).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw toIoError(e, dataDir, 'read');
    });
    if (dir === undefined || !dir.isDirectory()) {
      throw new ConfigError('ERR_AUTH_DATA_MISSING', `the data directory ${dataDir} (${where}) ${dir === undefined ? 'does not exist' : 'is not a directory'}`);
    }
    if (mode === 'existing') {
      const db = join(dataDir, AUTH_DB_FILE);
      if (!(await pathExists(db))) throw new ConfigError('ERR_AUTH_STORE_MISSING', `no auth store at ${db} (${where})`);
    }
  }
  const opened = await openAuthStore({ dataDir, postgres });
  const store = key === undefined ? opened : withTokenKey(opened, key);
  key?.fill(0);
  try {
    return await fn(store);
  } finally {
    await opened.close();
  }
}

/** tokenKeyFrom reads the daemon's token HMAC key from its secret store (made by the daemon's first start). */
async function tokenKeyFrom(ctx: CommandContext, dir: string, keyring: string | undefined, passphraseFile: string | undefined): Promise<Uint8Array> {
  const { openSecretStore } = await import('../../secrets/open.ts');
  const { store } = await openSecretStore({
    dir: abs(ctx, dir),
    keyringPath: keyring === undefined ? undefined : abs(ctx, keyring),
    passphrase: { passphraseFile: passphraseFile === undefined ? undefined : abs(ctx, passphraseFile), env: ctx.env },
    pkcs11: { cwd: ctx.cwd, env: ctx.env },
  });
  try {
    if (!(await store.has(DAEMON_SECRET_NAMES.tokenKey))) {
      throw new ConfigError('ERR_CONFIG_INVALID', `the secret store ${dir} has no ${DAEMON_SECRET_NAMES.tokenKey}`, {
        hint: 'start custody serve with this --secrets store once: it makes the key',
      });
    }
    const raw = await store.get(DAEMON_SECRET_NAMES.tokenKey);
    try {
      return parseTokenKeyText(Buffer.from(raw).toString('utf8'));
    } finally {
      raw.fill(0);
    }
  } finally {
    store.keyring.close();
  }
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function tokenJson(t: TokenRecord, now: number): Record<string, unknown> {
  const status = t.revokedAt !== null ? 'revoked' : t.expiresAt !== null && t.expiresAt <= now ? 'expired' : 'active';
  return { id: t.id, name: t.name, scopes: t.scopes, kind: t.kind, identity: t.identity, created_at: iso(t.createdAt), expires_at: iso(t.expiresAt), revoked_at: iso(t.revokedAt), status };
}

function identityJson(i: IdentityRecord): Record<string, unknown> {
  return { name: i.name, public_key: i.publicKey, scopes: i.scopes, created_at: iso(i.createdAt), revoked_at: iso(i.revokedAt), status: i.revokedAt === null ? 'active' : 'revoked' };
}

export const tokenCreate: Command = {
  summary: 'create a scoped API token for the signing API (printed once; only its SHA-256 is stored)',
  usage: `usage: custody token create --data DIR --name NAME --scope SCOPES [--expires 30d] [--json]

Creates a bearer token for the daemon's signing API (/v1, docs/signing-api.md) and prints it ONCE: only its
SHA-256 digest is stored, so a lost token cannot be shown again (revoke it and create another). A running daemon
accepts it at its next request.

options:
  --name NAME                 a label for lists and audit events (1–128 of A-Z a-z 0-9 . _ @ + -)
  --scope SCOPES              comma-separated: sign (POST /v1/sign), verify (POST /v1/verify), permit, upload,
                              admin (reserved for administrative routes; implies no other scope)
  --expires DURATION          lifetime: 90s, 15m, 12h, 30d (default ${DEFAULT_TOKEN_TTL}), or never
${STORE_HELP}
  --json                      print {"id","name","scopes","token","expires_at"}

example:
  custody token create --data custody-data --name ci --scope sign,verify --expires 30d`,
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.argv, { ...STORE_OPTIONS, name: { type: 'string' }, scope: { type: 'string' }, expires: { type: 'string' } }, false);
    const name = checkName(requireOption(values.name, 'name'), '--name');
    const scopes = parseScopeList(requireOption(values.scope, 'scope'));
    const expires = values.expires ?? DEFAULT_TOKEN_TTL;
    const ttlMs = expires === 'never' ? null : parseDuration(expires, '--expires');
    const t = await withStore(ctx, 'create', values, (s) => createToken(s, { name, scopes, now: ctx.now().getTime(), ttlMs }));
    ctx.print(t.token);
    ctx.stderr(`custody: token ${t.record.id} "${name}" (${scopes.join(', ')}), expires ${iso(t.record.expiresAt) ?? 'never'}; it is shown only now\n`);
    ctx.result({ id: t.record.id, name, scopes, token: t.token, expires_at: iso(t.record.expiresAt) });
    return 0;
  },
};

export const tokenList: Command = {
  summary: 'list the API tokens of the signing API (ids, names, scopes, expiry, revocation; never the tokens)',
  usage: `usage: custody token list --data DIR [--all] [--json]

Lists the tokens made by \`custody token create\`: id, status (active, expired, revoked), scopes, name, expiry.
The tokens themselves are not stored and cannot be listed.

options:
  --all                       also list the 5-minute tokens issued to identities (POST /v1/auth/token)
${STORE_HELP}
  --json                      print {"tokens": [{"id","name","scopes","kind","identity","created_at","expires_at","revoked_at","status"}]}

example:
  custody token list --data custody-data`,
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.argv, { ...STORE_OPTIONS, all: { type: 'boolean' } }, false);
    const now = ctx.now().getTime();
    const list = await withStore(ctx, 'existing', values, (s) => s.listTokens(values.all === true));
    for (const t of list) {
      const j = tokenJson(t, now);
      ctx.print(`${t.id}  ${String(j.status).padEnd(7)}  ${t.scopes.join(',').padEnd(20)}  ${t.name}  expires ${iso(t.expiresAt) ?? 'never'}`);
    }
    if (list.length === 0) ctx.print('(no tokens)');
    ctx.result({ tokens: list.map((t) => tokenJson(t, now)) });
    return 0;
  },
};

export const tokenRevoke: Command = {
  summary: 'revoke an API token of the signing API (refused by running daemons at their next request)',
  usage: `usage: custody token revoke --data DIR ID [--json]

Revokes the token with this id (16 hex characters, from \`custody token list\`). Every daemon reading the same
store refuses it from its next request on (401 ERR_AUTH_TOKEN_REVOKED). Revoking twice is harmless.

options:
${STORE_HELP}
  --json                      print {"id","revoked":true}

example:
  custody token revoke --data custody-data 0123456789abcdef`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, STORE_OPTIONS);
    if (positionals.length !== 1 || !/^[0-9a-f]{16}$/.test(positionals[0]!)) {
      throw new UsageError('ERR_USAGE_ARGUMENT', 'expected one token id (16 lowercase hex characters, from custody token list)');
    }
    const id = positionals[0]!;
    const found = await withStore(ctx, 'existing', values, (s) => s.revokeToken(id, ctx.now().getTime()));
    if (!found) throw new UsageError('ERR_AUTH_NOT_FOUND', `no token has the id ${id}`);
    ctx.print(`revoked token ${id}`);
    ctx.result({ id, revoked: true });
    return 0;
  },
};

export const identityAdd: Command = {
  summary: 'register an Ed25519 identity that gets 5-minute tokens by challenge-response (POST /v1/auth/…)',
  usage: `usage: custody identity add NAME --key K.pub --scope SCOPES --data DIR [--json]

Registers NAME with its Ed25519 public key. The holder of the private key asks POST /v1/auth/challenge for a
nonce, signs the challenge message with the key and gets a 5-minute token with these scopes from
POST /v1/auth/token (docs/signing-api.md "Challenge-response"). Names are never reused, even after revocation.

options:
  --key K.pub                 the identity's public key: SPKI PEM, 64 hex characters or base64 (a file or inline hex)
  --scope SCOPES              comma-separated: sign, verify, permit, upload, admin, and scan (a scanner whose
                              inner signatures POST /v1/sign-artifact and /v1/verify-and-permit-upload accept)
${STORE_HELP}
  --json                      print {"name","public_key","scopes","created_at"}

example:
  custody keygen --output scanner.pem && custody identity add scanner --key scanner.pub --scope sign,verify --data custody-data`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, { ...STORE_OPTIONS, key: { type: 'string' }, scope: { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', `expected one identity NAME, got ${positionals.length}`);
    const name = checkName(positionals[0]!, 'identity name');
    const keyArg = requireOption(values.key, 'key');
    const key = await loadPublicKey(/^[0-9a-f]{64}$/.test(keyArg) ? keyArg : abs(ctx, keyArg));
    const scopes = parseScopeList(requireOption(values.scope, 'scope'));
    const rec = await withStore(ctx, 'create', values, (s) => registerIdentity(s, { name, key, scopes, now: ctx.now().getTime() }));
    ctx.print(`registered identity ${name} (${key.fingerprint}) with scopes ${scopes.join(', ')}`);
    ctx.result({ name, public_key: rec.publicKey, scopes, created_at: iso(rec.createdAt) });
    return 0;
  },
};

export const identityList: Command = {
  summary: 'list the identities registered for challenge-response authentication',
  usage: `usage: custody identity list --data DIR [--json]

Lists each registered identity: status (active or revoked), scopes, name and Ed25519 public key (hex).

options:
${STORE_HELP}
  --json                      print {"identities": [{"name","public_key","scopes","created_at","revoked_at","status"}]}

example:
  custody identity list --data custody-data`,
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.argv, STORE_OPTIONS, false);
    const list = await withStore(ctx, 'existing', values, (s) => s.listIdentities());
    for (const i of list) ctx.print(`${i.name}  ${i.revokedAt === null ? 'active ' : 'revoked'}  ${i.scopes.join(',').padEnd(20)}  ${i.publicKey}`);
    if (list.length === 0) ctx.print('(no identities)');
    ctx.result({ identities: list.map(identityJson) });
    return 0;
  },
};

export const identityRevoke: Command = {
  summary: 'revoke an identity and every token issued to it (effective at the next request of running daemons)',
  usage: `usage: custody identity revoke NAME --data DIR [--json]
       custody identity revoke --oidc IDENTITY --data DIR [--json]

Revokes the identity: it gets no more challenges or tokens, and every token already issued to it is refused from
the next request on (401 ERR_AUTH_TOKEN_REVOKED). Its name is never reused.

With --oidc, IDENTITY is an OIDC caller's identity (the email address or subject its issuer is configured to name,
docs/signing-api.md "OIDC"): its bearer JWTs are refused from the next request on (401 ERR_AUTH_IDENTITY_REVOKED),
whichever trusted issuer signed them. Such a revocation is permanent.

options:
${STORE_HELP}
  --oidc                      IDENTITY is an OIDC identity (1–255 printable ASCII characters)
  --json                      print {"name","revoked":true} (with --oidc also "oidc":true)

example:
  custody identity revoke scanner --data custody-data
  custody identity revoke --oidc alice@example.com --data custody-data`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, { ...STORE_OPTIONS, oidc: { type: 'boolean' } });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', `expected one identity NAME, got ${positionals.length}`);
    if (values.oidc === true) {
      const identity = positionals[0]!;
      if (!/^[\x21-\x7e]{1,255}$/.test(identity)) throw new UsageError('ERR_USAGE_ARGUMENT', 'an OIDC identity is 1–255 printable ASCII characters');
      const fresh = await withStore(ctx, 'existing', values, (s) => s.revokeOidcIdentity(identity, ctx.now().getTime()));
      ctx.print(fresh ? `revoked OIDC identity ${identity}` : `OIDC identity ${identity} was already revoked`);
      ctx.result({ name: identity, revoked: true, oidc: true });
      return 0;
    }
    const name = checkName(positionals[0]!, 'identity name');
    const found = await withStore(ctx, 'existing', values, (s) => s.revokeIdentity(name, ctx.now().getTime()));
    if (!found) throw new UsageError('ERR_AUTH_NOT_FOUND', `no identity is named ${name}`);
    ctx.print(`revoked identity ${name} and its tokens`);
    ctx.result({ name, revoked: true });
    return 0;
  },
};
