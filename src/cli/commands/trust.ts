/**
 * cli/commands/trust — `custody trust init | add-key | remove-key | revoke | sign | verify | update | show`: the
 * lifecycle of a TUF root.json trust root (see src/trust/root.ts for the format).
 *
 * Editing commands (add-key, remove-key, revoke) write version N+1 with no signatures; it becomes trustworthy once
 * signed (`trust sign`, or `--sign` on the editing command) by a threshold of the OLD root keys and of the NEW ones.
 */
import type { PublicKey } from '../../crypto/index.ts';
import type { JsonObject } from '../../encoding/json.ts';
import { formatTimestamp, parseDuration, parseTimestamp } from '../../encoding/time.ts';
import { UsageError } from '../../errors.ts';
import { loadPublicKey } from '../../keys/key-file.ts';
import { tufKeyId, tufKeyObject } from '../../keys/key-id.ts';
import {
  TOP_LEVEL_ROLES,
  checkRootSignatures,
  createRoot,
  editRoot,
  formatRoot,
  signRoot,
  updateRootChain,
  verifyPinnedRoot,
  type RoleName,
  type RootDocument,
} from '../../trust/root.ts';
import { abs, loadSigningKey, readRootFile, writeOutput } from '../common.ts';
import { parseCommandArgs, requireOption, type Command, type CommandContext } from '../context.ts';

function parseThreshold(s: string | undefined, flag: string): number | undefined {
  if (s === undefined) return undefined;
  if (!/^[1-9][0-9]{0,3}$/.test(s)) throw new UsageError('ERR_USAGE_ARGUMENT', `--${flag} must be a positive integer`);
  return Number(s);
}

function parseRoles(s: string | undefined, dflt: RoleName[]): RoleName[] {
  if (s === undefined) return dflt;
  if (s === 'all') return [...TOP_LEVEL_ROLES];
  const out: RoleName[] = [];
  for (const r of s.split(',')) {
    if (!(TOP_LEVEL_ROLES as readonly string[]).includes(r)) {
      throw new UsageError('ERR_USAGE_ARGUMENT', `unknown role ${JSON.stringify(r)}; use root, targets, snapshot, timestamp or all`);
    }
    out.push(r as RoleName);
  }
  return out;
}

async function loadKeys(ctx: CommandContext, paths: string[] | undefined): Promise<PublicKey[]> {
  return Promise.all((paths ?? []).map((p) => loadPublicKey(/^[0-9a-f]{64}$/.test(p) ? p : abs(ctx, p))));
}

async function signAll(ctx: CommandContext, doc: RootDocument, signers: string[] | undefined, passphraseFile: string | undefined): Promise<RootDocument> {
  let d = doc;
  for (const s of signers ?? []) d = signRoot(d, await loadSigningKey(ctx, { key: s, passphraseFile }));
  return d;
}

function describeRoot(ctx: CommandContext, doc: RootDocument): void {
  ctx.print(`root version ${doc.version}, expires ${formatTimestamp(doc.expires)}`);
  for (const r of TOP_LEVEL_ROLES) ctx.print(`  ${r.padEnd(9)} ${doc.roles[r].threshold} of [${doc.roles[r].keyIds.join(', ')}]`);
  if (doc.revoked.size) ctx.print(`  revoked   ${[...doc.revoked].join(', ')}`);
  ctx.print(`  signatures: ${doc.signatures.map((s) => s.keyid).join(', ') || 'none'}`);
}

function rootJson(doc: RootDocument): Record<string, unknown> {
  return {
    version: doc.version,
    expires: formatTimestamp(doc.expires),
    roles: Object.fromEntries(TOP_LEVEL_ROLES.map((r) => [r, { keyids: doc.roles[r].keyIds, threshold: doc.roles[r].threshold }])),
    revoked: [...doc.revoked],
    signatures: doc.signatures.map((s) => s.keyid),
  };
}

const signOpts = {
  sign: { type: 'string', multiple: true },
  'passphrase-file': { type: 'string' },
  output: { type: 'string' },
  force: { type: 'boolean' },
} as const;

export const trustInit: Command = {
  summary: 'create and sign version 1 of a trust root (TUF root.json)',
  usage: `usage: custody trust init --key PUB… --threshold N --expires 365d --sign KEY.pem… --output root.json
                         [--root-key PUB… --root-threshold N] [--manifest-key PUB… --manifest-threshold N]

Makes a TUF root.json whose four roles (root, targets, snapshot, timestamp) use the --key keys and --threshold,
unless --root-key/--root-threshold or --manifest-key/--manifest-threshold (the "targets" role, which authorizes
manifest signers) say otherwise. --sign signs it; a root is trusted only when a threshold of its root keys signed it.

example:
  custody trust init --threshold 2 --key k/a.pub --key k/b.pub --key k/c.pub --expires 365d \\
      --sign k/a.pem --sign k/b.pem --output root.json`,
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.argv, {
      ...signOpts,
      key: { type: 'string', multiple: true },
      threshold: { type: 'string' },
      'root-key': { type: 'string', multiple: true },
      'root-threshold': { type: 'string' },
      'manifest-key': { type: 'string', multiple: true },
      'manifest-threshold': { type: 'string' },
      expires: { type: 'string' },
    }, false);
    const keys = await loadKeys(ctx, values.key);
    const rootKeys = values['root-key'] ? await loadKeys(ctx, values['root-key']) : keys;
    const manifestKeys = values['manifest-key'] ? await loadKeys(ctx, values['manifest-key']) : keys;
    if (rootKeys.length === 0 || manifestKeys.length === 0) throw new UsageError('ERR_USAGE_ARGUMENT', 'give at least one --key');
    const t = parseThreshold(values.threshold, 'threshold');
    const rootT = parseThreshold(values['root-threshold'], 'root-threshold') ?? t ?? 1;
    const manT = parseThreshold(values['manifest-threshold'], 'manifest-threshold') ?? t ?? 1;
    const otherKeys = keys.length ? keys : rootKeys;
    // Checked before anything is signed: a threshold above the distinct keys of its role can never be met.
    const distinct = (ks: PublicKey[]): number => new Set(ks.map((k) => tufKeyId(k))).size;
    for (const [flag, n, ks, keyFlag] of [
      ['threshold', t, keys, 'key'],
      ['root-threshold', rootT, rootKeys, values['root-key'] ? 'root-key' : 'key'],
      ['manifest-threshold', manT, manifestKeys, values['manifest-key'] ? 'manifest-key' : 'key'],
    ] as const) {
      if (n !== undefined && ks.length > 0 && n > distinct(ks)) {
        throw new UsageError('ERR_USAGE_ARGUMENT', `--${flag} ${n}: expected 1 to the ${distinct(ks)} distinct --${keyFlag} given`);
      }
    }
    const otherT = Math.min(t ?? 1, otherKeys.length);
    const expires = new Date(ctx.now().getTime() + parseDuration(values.expires ?? '365d', '--expires'));
    let doc = createRoot({
      expires,
      roles: {
        root: { keys: rootKeys, threshold: rootT },
        targets: { keys: manifestKeys, threshold: manT },
        snapshot: { keys: otherKeys, threshold: otherT },
        timestamp: { keys: otherKeys, threshold: otherT },
      },
    });
    doc = await signAll(ctx, doc, values.sign, values['passphrase-file']);
    const out = await writeOutput(ctx, requireOption(values.output, 'output'), formatRoot(doc), { force: values.force ?? false });
    const check = checkRootSignatures(doc, doc, ctx.now());
    ctx.print(`wrote ${out}`);
    describeRoot(ctx, doc);
    if (!check.met) ctx.print(`note: signed by ${check.valid.length}/${check.threshold} root keys; collect more with \`custody trust sign\``);
    ctx.result({ output: out, root: rootJson(doc), root_signed: check.met });
    return 0;
  },
};

async function editCommand(
  ctx: CommandContext,
  values: { trust?: string | undefined; sign?: string[] | undefined; 'passphrase-file'?: string | undefined; output?: string | undefined; expires?: string | undefined },
  edit: (signed: JsonObject, old: RootDocument) => void,
): Promise<number> {
  const trustPath = requireOption(values.trust, 'trust');
  const old = readRootFile(ctx, trustPath);
  const now = ctx.now();
  let doc = editRoot(old, (signed) => {
    edit(signed, old);
    if (values.expires !== undefined) signed.expires = formatTimestamp(new Date(now.getTime() + parseDuration(values.expires, '--expires')));
  });
  doc = await signAll(ctx, doc, values.sign, values['passphrase-file']);
  const out = await writeOutput(ctx, requireOption(values.output, 'output'), formatRoot(doc), { inputs: [trustPath] });
  ctx.print(`wrote ${out} (version ${doc.version}; needs signatures from a threshold of the old and the new root keys)`);
  describeRoot(ctx, doc);
  ctx.result({ output: out, root: rootJson(doc) });
  return 0;
}

function roleObj(signed: JsonObject, r: RoleName): { keyids: string[]; threshold: number } {
  return (signed.roles as JsonObject)[r] as unknown as { keyids: string[]; threshold: number };
}

export const trustAddKey: Command = {
  summary: 'write root version N+1 with a key added to roles',
  usage: `usage: custody trust add-key --trust root.json --key PUB --output next.json [--role targets|root|…|all]
                            [--threshold N] [--not-before T] [--not-after T] [--expires D] [--sign KEY.pem…]

Adds the key to the roles (default: targets, the manifest signers). --not-before/--not-after (RFC 3339) bound the
key's validity. The result is version N+1 and must be signed by a threshold of old and new root keys.`,
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.argv, {
      ...signOpts,
      trust: { type: 'string' },
      key: { type: 'string' },
      role: { type: 'string' },
      threshold: { type: 'string' },
      'not-before': { type: 'string' },
      'not-after': { type: 'string' },
      expires: { type: 'string' },
    }, false);
    const [key] = await loadKeys(ctx, [requireOption(values.key, 'key')]);
    const roles = parseRoles(values.role, ['targets']);
    const threshold = parseThreshold(values.threshold, 'threshold');
    return editCommand(ctx, values, (signed) => {
      const keys = signed.keys as JsonObject;
      const entry: JsonObject = tufKeyObject(key!);
      if (values['not-before'] !== undefined) entry['x-custody-not-before'] = formatTimestamp(parseTimestamp(values['not-before'], '--not-before'));
      if (values['not-after'] !== undefined) entry['x-custody-not-after'] = formatTimestamp(parseTimestamp(values['not-after'], '--not-after'));
      // The root was parsed, so every id in it is the TUF key id of its key: one key has exactly one id.
      const id = tufKeyId(key!);
      keys[id] = entry;
      for (const r of roles) {
        const role = roleObj(signed, r);
        if (!role.keyids.includes(id)) role.keyids.push(id);
        if (threshold !== undefined) role.threshold = threshold;
      }
    });
  },
};

function resolveKeyId(old: RootDocument, keyId: string | undefined, pub: PublicKey | undefined): string {
  if (pub) {
    const hit = [...old.keys.values()].find((k) => k.key.equals(pub));
    if (!hit) throw new UsageError('ERR_TRUST_UNKNOWN_KEY', `key ${tufKeyId(pub)} is not in root version ${old.version}`);
    return hit.id;
  }
  if (keyId === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'give --key-id ID or --key PUB');
  if (!old.keys.has(keyId)) throw new UsageError('ERR_TRUST_UNKNOWN_KEY', `key id ${keyId} is not in root version ${old.version}`);
  return keyId;
}

/** removeOrRevoke writes version N+1 without the key in the roles; `revoke` also lists it in x-custody-revoked. */
async function removeOrRevoke(ctx: CommandContext, revoke: boolean): Promise<number> {
  const { values } = parseCommandArgs(ctx.argv, {
    ...signOpts,
    trust: { type: 'string' },
    'key-id': { type: 'string' },
    key: { type: 'string' },
    role: { type: 'string' },
    threshold: { type: 'string' },
    expires: { type: 'string' },
  }, false);
  if (revoke && values.role !== undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'revoke removes the key from every role; --role is not accepted');
  const pub = values.key === undefined ? undefined : (await loadKeys(ctx, [values.key]))[0];
  const roles = parseRoles(values.role, [...TOP_LEVEL_ROLES]);
  const threshold = parseThreshold(values.threshold, 'threshold');
  return editCommand(ctx, values, (signed, old) => {
    const id = resolveKeyId(old, values['key-id'], pub);
    for (const r of roles) {
      const role = roleObj(signed, r);
      role.keyids = role.keyids.filter((k) => k !== id);
      if (threshold !== undefined) role.threshold = threshold;
    }
    if (revoke) {
      // `id` is the TUF key id of the key (parsing checked it); revocation lists it, derived from the key bytes.
      const revoked = (signed['x-custody-revoked'] as string[] | undefined) ?? [];
      if (!revoked.includes(id)) revoked.push(id);
      signed['x-custody-revoked'] = revoked;
    }
  });
}

export const trustRemoveKey: Command = {
  summary: 'write root version N+1 with a key removed from roles',
  usage: `usage: custody trust remove-key --trust root.json (--key-id ID | --key PUB) --output next.json
                               [--role …|all] [--threshold N] [--expires D] [--sign KEY.pem…]

Removes the key from the roles (default: all). A role left with fewer keys than its threshold is refused unless
--threshold lowers it.`,
  run: (ctx) => removeOrRevoke(ctx, false),
};

export const trustRevoke: Command = {
  summary: 'write root version N+1 that revokes a key everywhere',
  usage: `usage: custody trust revoke --trust root.json (--key-id ID | --key PUB) --output next.json
                           [--threshold N] [--expires D] [--sign KEY.pem…]

Removes the key from every role and lists it in x-custody-revoked, so its signatures never count again, even if a
later root lists it under another id.`,
  run: (ctx) => removeOrRevoke(ctx, true),
};

export const trustSign: Command = {
  summary: 'add a signature to a trust root',
  usage: `usage: custody trust sign --trust root.json --key KEY.pem --output signed.json [--passphrase-file F]`,
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.argv, { trust: { type: 'string' }, key: { type: 'string' }, output: { type: 'string' }, 'passphrase-file': { type: 'string' } }, false);
    const trustPath = requireOption(values.trust, 'trust');
    const doc = signRoot(readRootFile(ctx, trustPath), await loadSigningKey(ctx, { key: requireOption(values.key, 'key'), passphraseFile: values['passphrase-file'] }));
    const out = await writeOutput(ctx, requireOption(values.output, 'output'), formatRoot(doc), { inputs: [trustPath] });
    ctx.print(`wrote ${out}: ${doc.signatures.length} signature(s)`);
    ctx.result({ output: out, signatures: doc.signatures.map((s) => s.keyid) });
    return 0;
  },
};

export const trustVerify: Command = {
  summary: 'verify a trust root (pinned, or as the successor of trusted roots)',
  usage: `usage: custody trust verify ROOT.json [--previous TRUSTED.json] [--chain V2.json…]

Without --previous: ROOT must be signed by a threshold of its own root keys and unexpired. With --previous: the
chain TRUSTED → (--chain …) → ROOT must advance one version at a time, each signed by a threshold of the previous
and of its own root keys (TUF §5.3); only the final root's expiry matters.`,
  run(ctx) {
    const { values, positionals } = parseCommandArgs(ctx.argv, { previous: { type: 'string' }, chain: { type: 'string', multiple: true } });
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected exactly one root file');
    const doc = readRootFile(ctx, positionals[0]!);
    const now = ctx.now();
    let verified;
    if (values.previous !== undefined) {
      const prev = verifyPinnedRoot(readRootFile(ctx, values.previous), { now, allowExpired: true });
      const chain = (values.chain ?? []).map((p) => readRootFile(ctx, p));
      verified = updateRootChain(prev, [...chain, doc], now);
    } else {
      verified = verifyPinnedRoot(doc, { now });
    }
    ctx.print(`verified: root version ${verified.version}, expires ${formatTimestamp(verified.expires)}`);
    ctx.result({ root: rootJson(verified) });
    return 0;
  },
};

export const trustUpdate: Command = {
  summary: 'move a trusted root file forward to a verified successor',
  usage: `usage: custody trust update --trust TRUSTED.json --new NEXT.json… 

Verifies each NEXT in order as the successor of the trusted root (TUF §5.3), then replaces TRUSTED.json with the
final root atomically. On any refusal TRUSTED.json is left unchanged.`,
  async run(ctx) {
    const { values } = parseCommandArgs(ctx.argv, { trust: { type: 'string' }, new: { type: 'string', multiple: true } }, false);
    const trustPath = requireOption(values.trust, 'trust');
    const now = ctx.now();
    // The pinned root may have expired since it was pinned; TUF still lets it vouch for its successor.
    const trusted = verifyPinnedRoot(readRootFile(ctx, trustPath), { now, allowExpired: true });
    const chain = (values.new ?? []).map((p) => readRootFile(ctx, p));
    if (chain.length === 0) throw new UsageError('ERR_USAGE_ARGUMENT', 'give at least one --new root');
    const final = updateRootChain(trusted, chain, now);
    await writeOutput(ctx, trustPath, formatRoot(final));
    ctx.print(`trusted root is now version ${final.version}`);
    ctx.result({ root: rootJson(final) });
    return 0;
  },
};

export const trustShow: Command = {
  summary: 'print the roles, keys and signatures of a trust root',
  usage: `usage: custody trust show ROOT.json`,
  run(ctx) {
    const { positionals } = parseCommandArgs(ctx.argv, {});
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'expected exactly one root file');
    const doc = readRootFile(ctx, positionals[0]!);
    describeRoot(ctx, doc);
    ctx.result({ root: rootJson(doc) });
    return 0;
  },
};
