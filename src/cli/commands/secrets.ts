/**
 * cli/commands/secrets — `custody secrets put|get|list|rotate-kek|rewrap`: the envelope-encrypted secret store
 * (secrets/store, docs/keys.md "Secrets"). Values come from stdin or --from-file and go to stdout or --output
 * (0600); the keyring passphrase from --passphrase-file or CUSTODY_PASSPHRASE. Never a secret in argv.
 */
import { decodeUtf8 } from '../../encoding/json.ts';
import { LimitError, UsageError, isTrustError } from '../../errors.ts';
import { readFileBounded } from '../../io/files.ts';
import { isPkcs11Uri } from '../../hsm/uri.ts';
import { SECRET_VALUE_MAX_BYTES, checkSecretName } from '../../secrets/format.ts';
import { openSecretStore } from '../../secrets/open.ts';
import { listSecrets, type RewrapReport, type SecretStore } from '../../secrets/store.ts';
import type { Keyring } from '../../secrets/keyring.ts';
import { abs, writeOutput } from '../common.ts';
import { parseCommandArgs, requireOption, type Command, type CommandContext } from '../context.ts';

const STORE_OPTIONS = {
  store: { type: 'string' },
  keyring: { type: 'string' },
  'passphrase-file': { type: 'string' },
} as const;

const STORE_HELP = `  --store DIR                 the store directory (one <name>.secret file per secret; created 0700)
  --keyring FILE              the passphrase-sealed keyring of KEKs (default DIR/keyring)
  --passphrase-file FILE      the keyring's passphrase (else CUSTODY_PASSPHRASE; never on the command line)`;

type StoreValues = { store?: string | undefined; keyring?: string | undefined; 'passphrase-file'?: string | undefined };

async function withStore<T>(ctx: CommandContext, v: StoreValues, create: boolean, fn: (s: SecretStore, created: boolean) => Promise<T>): Promise<T> {
  const { store, created } = await openSecretStore({
    dir: abs(ctx, requireOption(v.store, 'store')),
    keyringPath: v.keyring === undefined ? undefined : abs(ctx, v.keyring),
    passphrase: { passphraseFile: v['passphrase-file'] === undefined ? undefined : abs(ctx, v['passphrase-file']), env: ctx.env },
    create,
    now: ctx.now,
    pkcs11: { cwd: ctx.cwd, env: ctx.env, warn: (m) => ctx.stderr(`custody: warning: ${m}\n`) },
  });
  try {
    return await fn(store, created);
  } finally {
    store.keyring.close();
  }
}

function oneName(positionals: string[]): string {
  if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected exactly one secret NAME');
  return checkSecretName(positionals[0]!);
}

/**
 * readStdin reads standard input up to the value cap (the value never touches argv or the environment). A terminal
 * is refused: there is no prompt (nothing would say a value is awaited, and what is typed would echo).
 */
async function readStdin(): Promise<Uint8Array> {
  if (process.stdin.isTTY) {
    throw new UsageError('ERR_SECRETS_STDIN_TERMINAL', 'the secret is read from stdin, which is a terminal; custody does not prompt for it');
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of process.stdin as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > SECRET_VALUE_MAX_BYTES) {
      for (const x of chunks) x.fill(0);
      throw new LimitError('ERR_LIMIT_SIZE', `the secret on stdin is over the cap of ${SECRET_VALUE_MAX_BYTES} bytes`);
    }
    chunks.push(c);
  }
  const out = new Uint8Array(Buffer.concat(chunks));
  for (const x of chunks) x.fill(0);
  return out;
}

function keyringLine(k: Keyring): string {
  return k
    .entries()
    .map((e) => `${e.id} (${e.state}${e.kind === 'pkcs11' ? `, in ${e.uri}` : ''})`)
    .join(', ');
}

function reportResult(ctx: CommandContext, r: RewrapReport, verb: string): void {
  ctx.print(`${verb}: ${r.rewrapped} data key(s) rewrapped, ${r.unchanged} already under ${r.active}`);
  ctx.print(r.retired.length === 0 ? 'retired: none' : `retired: ${r.retired.join(', ')} (key material destroyed)`);
  for (const id of r.leftInToken) ctx.stderr(`custody: warning: retired ${id}, but its key could not be destroyed in the token; delete it there (pkcs11-tool --delete-object --type secrkey)\n`);
  ctx.result({ active: r.active, rewrapped: r.rewrapped, unchanged: r.unchanged, retired: r.retired, left_in_token: r.leftInToken });
}

export const secretsPut: Command = {
  summary: 'store a secret (from stdin or --from-file) encrypted under its own data key, wrapped by the active KEK',
  usage: `usage: custody secrets put --store DIR NAME [--from-file F] [--allow-empty] [--keyring FILE] [--passphrase-file F]
                           [--json]

Encrypts the value with a fresh AES-256-GCM data key and wraps that key with the keyring's active KEK
(docs/keys.md "Secrets"). The value is read from stdin, or from --from-file; never from the command line. A second
put of a NAME replaces it with version + 1. The keyring is created on first use (keep its passphrase: without it
nothing in the store can be read). stdin must be a pipe or a file, not a terminal (there is no prompt:
ERR_SECRETS_STDIN_TERMINAL); an empty value is refused (ERR_SECRETS_VALUE_EMPTY) unless --allow-empty.

options:
  NAME                        1–128 of a-z 0-9 . _ - starting with a letter or digit
  --from-file F               read the value from F instead of stdin (at most 1 MiB)
  --allow-empty               store an empty value (default: refused, as a closed or forgotten pipe gives one)
${STORE_HELP}
  --json                      print {"name","version","kek_id","keyring_created"}

example:
  printf '%s' "$DB_PASSWORD" | CUSTODY_PASSPHRASE=… custody secrets put --store secrets db.password`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, { ...STORE_OPTIONS, 'from-file': { type: 'string' }, 'allow-empty': { type: 'boolean' } });
    const name = oneName(positionals);
    requireOption(values.store, 'store');
    const value =
      values['from-file'] !== undefined
        ? new Uint8Array(await readFileBounded(abs(ctx, values['from-file']), { maxBytes: SECRET_VALUE_MAX_BYTES, what: 'secret file', allowSymlink: true }))
        : await readStdin();
    // Before the store is opened: a refused put creates no keyring.
    if (value.length === 0 && values['allow-empty'] !== true) {
      throw new UsageError('ERR_SECRETS_VALUE_EMPTY', `the value for ${name} is empty (${values['from-file'] === undefined ? 'stdin' : values['from-file']} gave no bytes)`);
    }
    try {
      const { info, created } = await withStore(ctx, values, true, async (s, c) => ({ info: await s.put(name, value), created: c }));
      if (created) ctx.stderr('custody: created a new keyring; keep its passphrase: without it nothing in the store can be read\n');
      ctx.print(`stored ${info.name} version ${info.version} (data key wrapped by ${info.kekId})`);
      ctx.result({ name: info.name, version: info.version, kek_id: info.kekId, keyring_created: created });
      return 0;
    } finally {
      value.fill(0);
    }
  },
};

export const secretsGet: Command = {
  summary: 'decrypt a secret to stdout or to --output (0600); refused, and nothing printed, if any byte was altered',
  usage: `usage: custody secrets get --store DIR NAME [--output F] [--keyring FILE] [--passphrase-file F]

Unwraps the secret's data key with its KEK and decrypts it. AES-GCM refuses a file, wrapped key or payload that
was altered, or a file renamed to another secret (ERR_SECRETS_DECRYPT), and then nothing is written. The value
goes to stdout as is (UTF-8 text only; binary values need --output), or to --output F, written atomically with
mode 0600. --json is refused (the value has no place in a JSON report).

options:
  NAME                        the secret's name
  --output F                  write the value to F (0600) instead of stdout
${STORE_HELP}

example:
  CUSTODY_PASSPHRASE=… custody secrets get --store secrets db.password --output db.password.txt`,
  async run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, { ...STORE_OPTIONS, output: { type: 'string' } });
    if (ctx.json) throw new UsageError('ERR_USAGE_ARGUMENT', '--json is not accepted by secrets get: the value would be part of the report');
    const name = oneName(positionals);
    const value = await withStore(ctx, values, false, (s) => s.get(name));
    try {
      if (values.output !== undefined) {
        await writeOutput(ctx, values.output, value, { mode: 0o600 });
      } else {
        let text: string;
        try {
          text = decodeUtf8(value, 'secret');
        } catch (e) {
          if (isTrustError(e)) throw new UsageError('ERR_USAGE_ARGUMENT', `secret ${name} is not UTF-8 text; write it with --output F`);
          throw e;
        }
        ctx.stdout(text);
      }
      return 0;
    } finally {
      value.fill(0);
    }
  },
};

export const secretsList: Command = {
  summary: 'list the secrets of a store: name, version, data key id, the KEK that wraps it (nothing decrypted)',
  usage: `usage: custody secrets list --store DIR [--keyring FILE --passphrase-file F] [--json]

Lists every secret from the files' headers; no value is decrypted and no passphrase is needed. With a passphrase
(--passphrase-file or CUSTODY_PASSPHRASE) it also lists the keyring's KEKs and their states (active, retiring, retired).

options:
${STORE_HELP}
  --json                      print {"secrets":[{"name","version","data_key_id","kek_id"}],"keks"?:[{"id","kind","uri"?,"state","created"}]}

example:
  custody secrets list --store secrets`,
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.argv, STORE_OPTIONS, false);
    const dir = abs(ctx, requireOption(values.store, 'store'));
    const hasPass = values['passphrase-file'] !== undefined || (ctx.env.CUSTODY_PASSPHRASE ?? '') !== '';
    const inspect = async (k: Keyring | undefined) => {
      const list = await listSecrets(dir);
      for (const x of list) ctx.print(`${x.name}  v${x.version}  ${x.kekId}`);
      if (list.length === 0) ctx.print('(no secrets)');
      const keks = k?.entries().map((e) => ({ id: e.id, kind: e.kind, ...(e.uri === undefined ? {} : { uri: e.uri }), state: e.state, created: e.created.toISOString() }));
      if (k !== undefined) {
        ctx.print(`keks: ${keyringLine(k)}`);
        for (const r of k.retired()) ctx.print(`retired: ${r.id} at ${r.retired.toISOString()}`);
      }
      ctx.result({ secrets: list.map((x) => ({ name: x.name, version: x.version, data_key_id: x.dataKeyId, kek_id: x.kekId })), ...(keks ? { keks } : {}) });
    };
    if (hasPass) {
      await withStore(ctx, values, false, (s) => inspect(s.keyring));
    } else {
      // Headers only: listing never needs the keyring.
      await inspect(undefined);
    }
    return 0;
  },
};

export const secretsRotateKek: Command = {
  summary: 'make a new active KEK and rewrap every data key with it (payloads untouched); retire the old KEK',
  usage: `usage: custody secrets rotate-kek --store DIR [--to file|pkcs11:URI] [--keyring FILE] [--passphrase-file F] [--json]

Adds a new key-encryption key to the keyring (the old one becomes "retiring"), then rewraps every secret's data key
with it: unwrap with the old KEK, wrap with the new one, replace the file atomically. Payloads are not decrypted.
The old KEK is destroyed only once no file names it (a KEK in a token: its object is destroyed there). Interrupted
(a crash, kill -9), every secret stays readable and \`custody secrets rewrap\` finishes the job.

options:
  --to file                   the new KEK is random bytes sealed in the keyring (the default)
  --to 'pkcs11:token=T;object=L?pin-source=file:PIN'
                              the new KEK is an AES-256 key generated in that token (sensitive, never extractable);
                              data keys are wrapped and unwrapped inside the token with CKM_AES_GCM. The keyring
                              records the URI, the PIN file (absolute) and module-path; later commands need the token
                              (module from module-path or CUSTODY_PKCS11_MODULE, PIN from the file or CUSTODY_PKCS11_PIN)
${STORE_HELP}
  --json                      print {"active","rewrapped","unchanged","retired","left_in_token"}

examples:
  CUSTODY_PASSPHRASE=… custody secrets rotate-kek --store secrets
  CUSTODY_PASSPHRASE=… custody secrets rotate-kek --store secrets --to 'pkcs11:token=kek;object=secrets-kek-1?pin-source=file:kek.pin'`,
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.argv, { ...STORE_OPTIONS, to: { type: 'string' } }, false);
    const to = values.to === undefined || values.to === 'file' ? ({ kind: 'file' } as const) : isPkcs11Uri(values.to) ? ({ kind: 'pkcs11', uri: values.to } as const) : undefined;
    if (to === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', `--to: expected file or a pkcs11: URI, got ${JSON.stringify(values.to!.slice(0, 80))}`);
    const r = await withStore(ctx, values, false, (s) => s.rotateKek({ now: ctx.now(), to }));
    reportResult(ctx, r, 'rotated');
    return 0;
  },
};

export const secretsRewrap: Command = {
  summary: 'finish an interrupted KEK rotation: rewrap what the active KEK does not wrap yet, retire unused KEKs',
  usage: `usage: custody secrets rewrap --store DIR [--keyring FILE] [--passphrase-file F] [--json]

Rewraps every data key that is not wrapped by the active KEK (left by an interrupted rotate-kek, or a file restored
from a backup), then destroys retiring KEKs that no file names any more. Running it again changes nothing.

options:
${STORE_HELP}
  --json                      print {"active","rewrapped","unchanged","retired"}

example:
  CUSTODY_PASSPHRASE=… custody secrets rewrap --store secrets`,
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.argv, STORE_OPTIONS, false);
    const r = await withStore(ctx, values, false, (s) => s.rewrap({ now: ctx.now() }));
    reportResult(ctx, r, 'rewrapped');
    return 0;
  },
};
