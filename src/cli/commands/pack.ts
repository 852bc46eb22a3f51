/**
 * cli/commands/pack — `custody pack`: build a signed PSPF/2025 package (FlavorPack v0.3.0 layout, pkg/writer)
 * from a JSON/TOML build file or from flags.
 *
 * Trust boundary: inputs are the operator's files; the signing key comes from `--key` (PEM, possibly encrypted)
 * or `--seed-file` (Ed25519 seed = SHA-256 of the file's UTF-8 text, one trailing newline removed: FlavorPack's
 * `--key-seed` rule, for CI and tests, NOT for production), both through the shared loader in src/keys, or,
 * explicitly, `--ephemeral-key`. Keys never come from argv. SOURCE_DATE_EPOCH (environment) makes the build
 * reproducible.
 */
import { promises as fsp } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { PrivateKey, type Signer } from '../../crypto/index.ts';
import { decodeUtf8, parseJsonObject } from '../../encoding/json.ts';
import { ConfigError, UsageError, toIoError } from '../../errors.ts';
import { readFileBounded } from '../../io/files.ts';
import { parsePermissions } from '../../pkg/metadata.ts';
import { writePackage, type SlotInput } from '../../pkg/writer.ts';
import { loadSigningKey } from '../common.ts';
import { parseCommandArgs, type Command, type CommandContext } from '../context.ts';

/** BUILD_FILE_MAX_BYTES caps a build file (1 MiB). */
const BUILD_FILE_MAX_BYTES = 1024 * 1024;
/** LAUNCHER_MAX_BYTES caps a launcher (256 MiB). */
const LAUNCHER_MAX_BYTES = 256 * 1024 * 1024;

const BUILD_KEYS = new Set(['name', 'version', 'launcher', 'command', 'slots']);
const SLOT_KEYS = new Set(['id', 'path', 'operations', 'purpose', 'lifecycle', 'permissions', 'target']);

interface BuildSpec {
  name?: string;
  version?: string;
  launcher?: string;
  command?: string;
  slots: SlotInput[];
}

function cfg(message: string): never {
  throw new ConfigError('ERR_CONFIG_INVALID', message);
}

function optString(o: Record<string, unknown>, k: string, where: string): string | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') cfg(`${where}: ${k} must be a string`);
  return v;
}

async function sourceOf(path: string): Promise<SlotInput['source']> {
  let st;
  try {
    st = await fsp.stat(path);
  } catch (e) {
    throw toIoError(e, path, 'read');
  }
  if (st.isDirectory()) return { kind: 'directory', path };
  if (st.isFile()) return { kind: 'file', path };
  return cfg(`${path} is neither a regular file nor a directory`);
}

/** parseBuildFile reads the build file (JSON, or TOML when the name ends in .toml); paths are relative to it. */
async function parseBuildFile(path: string): Promise<BuildSpec> {
  const raw = await readFileBounded(path, { maxBytes: BUILD_FILE_MAX_BYTES, allowSymlink: true, what: 'build file' });
  let doc: Record<string, unknown>;
  if (path.endsWith('.toml')) {
    try {
      doc = parseToml(decodeUtf8(raw, 'build file'));
    } catch (e) {
      throw new ConfigError('ERR_CONFIG_INVALID', `build file ${path}: ${(e as Error).message.split('\n')[0]}`, { cause: e });
    }
  } else {
    doc = parseJsonObject(raw, { what: 'build file' });
  }
  for (const k of Object.keys(doc)) if (!BUILD_KEYS.has(k)) cfg(`build file: unknown key ${JSON.stringify(k)}`);
  const base = dirname(path);
  const slotsV = doc.slots;
  if (!Array.isArray(slotsV)) cfg('build file: slots must be an array of tables/objects');
  const slots: SlotInput[] = [];
  for (const [i, v] of (slotsV as unknown[]).entries()) {
    const where = `build file slots[${i}]`;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) cfg(`${where} must be an object`);
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!SLOT_KEYS.has(k)) cfg(`${where}: unknown key ${JSON.stringify(k)}`);
    const p = optString(o, 'path', where) ?? cfg(`${where}: path is required`);
    const abs = resolve(base, p);
    const perm = optString(o, 'permissions', where);
    let permissions: number | null | undefined;
    try {
      permissions = perm === undefined ? undefined : parsePermissions(perm, `${where}.permissions`);
    } catch (e) {
      throw new ConfigError('ERR_CONFIG_INVALID', `${where}: permissions must be an octal string such as "0755"`, { cause: e });
    }
    const slot: SlotInput = { id: optString(o, 'id', where) ?? basename(abs), source: await sourceOf(abs) };
    const ops = optString(o, 'operations', where);
    const purpose = optString(o, 'purpose', where);
    const lifecycle = optString(o, 'lifecycle', where);
    const target = optString(o, 'target', where);
    if (ops !== undefined) slot.operations = ops;
    if (purpose !== undefined) slot.purpose = purpose;
    if (lifecycle !== undefined) slot.lifecycle = lifecycle;
    if (target !== undefined) slot.target = target;
    else slot.target = `{workenv}/${basename(abs)}`;
    if (permissions !== undefined) slot.permissions = permissions;
    slots.push(slot);
  }
  const spec: BuildSpec = { slots };
  const name = optString(doc, 'name', 'build file');
  const version = optString(doc, 'version', 'build file');
  const launcher = optString(doc, 'launcher', 'build file');
  const command = optString(doc, 'command', 'build file');
  if (name !== undefined) spec.name = name;
  if (version !== undefined) spec.version = version;
  if (launcher !== undefined) spec.launcher = resolve(base, launcher);
  if (command !== undefined) spec.command = command;
  return spec;
}

/**
 * parseSlotFlag reads `--slot PATH[:OPS[:PURPOSE[:LIFECYCLE[:PERM]]]]`; the id and target come from the path's
 * basename (`{workenv}/<basename>`). Paths containing ':' need a build file.
 */
async function parseSlotFlag(ctx: CommandContext, spec: string): Promise<SlotInput> {
  const [p, ops, purpose, lifecycle, perm, ...rest] = spec.split(':');
  if (p === undefined || p === '' || rest.length > 0) {
    throw new UsageError('ERR_USAGE_ARGUMENT', `--slot ${JSON.stringify(spec)}: expected PATH[:OPS[:PURPOSE[:LIFECYCLE[:PERM]]]]`);
  }
  const abs = resolve(ctx.cwd, p);
  const slot: SlotInput = { id: basename(abs), source: await sourceOf(abs), target: `{workenv}/${basename(abs)}` };
  if (ops) slot.operations = ops;
  if (purpose) slot.purpose = purpose;
  if (lifecycle) slot.lifecycle = lifecycle;
  if (perm) {
    if (!/^0?[0-7]{3,4}$/.test(perm)) throw new UsageError('ERR_USAGE_ARGUMENT', `--slot ${JSON.stringify(spec)}: PERM must be octal like 0755`);
    slot.permissions = parseInt(perm, 8);
  }
  return slot;
}

/** parseSourceDateEpoch reads SOURCE_DATE_EPOCH (reproducible-builds.org): decimal seconds, no sign or junk. */
export function parseSourceDateEpoch(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (!/^(0|[1-9][0-9]{0,11})$/.test(v)) cfg(`SOURCE_DATE_EPOCH must be a non-negative integer number of seconds, got ${JSON.stringify(v)}`);
  return Number(v);
}

/**
 * loadPackSigningKey loads the signing key through the shared loader (src/keys via cli/common: PKCS#8, sealed and
 * PBES2 PEM with --passphrase-file or CUSTODY_PASSPHRASE, key files readable by others refused, FlavorPack's
 * seed rule), or makes an ephemeral one when asked to explicitly.
 */
async function loadPackSigningKey(
  ctx: CommandContext,
  v: { key?: string | undefined; 'seed-file'?: string | undefined; 'passphrase-file'?: string | undefined; 'ephemeral-key'?: boolean | undefined },
): Promise<Signer> {
  const given = [v.key !== undefined, v['seed-file'] !== undefined, v['ephemeral-key'] === true].filter(Boolean).length;
  if (given !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', 'pass exactly one of --key PEM, --seed-file FILE or --ephemeral-key');
  if (v['ephemeral-key'] === true) {
    ctx.stderr('custody: warning: signing with an ephemeral key: the package is intact-only, nobody can pin its signer\n');
    return PrivateKey.generate();
  }
  if (v['seed-file'] !== undefined) {
    ctx.stderr('custody: warning: a key derived from a seed file is deterministic: for tests and CI, not for production\n');
  }
  return loadSigningKey(ctx, { key: v.key, seedFile: v['seed-file'], passphraseFile: v['passphrase-file'] });
}

export const pack: Command = {
  summary: 'build a signed PSPF/2025 package from files and directories',
  usage: `usage: custody pack (--build FILE | --slot SPEC…) --name NAME --version VERSION --output FILE
                    (--key PEM [--passphrase-file F] | --seed-file FILE | --ephemeral-key)
                    [--launcher FILE] [--command CMD] [--force] [--json]

Builds a PSPF/2025 package (FlavorPack format): launcher, gzip'd metadata signed with Ed25519, slots, trailer.
Each slot's full sha-256 is in the signed metadata. The same inputs, key and SOURCE_DATE_EPOCH give the same bytes.

  --build FILE        JSON, or TOML if it ends in .toml: name, version, launcher, command and slots, each slot
                      { id, path, operations, purpose, lifecycle, permissions, target }; paths relative to FILE;
                      flags override name/version/launcher/command, --slot adds slots
  --slot SPEC         PATH[:OPS[:PURPOSE[:LIFECYCLE[:PERM]]]], repeatable; id = basename, target {workenv}/basename
                      OPS: raw | gzip | bzip2 | xz | tar | tar.gz | tar.bz2 | tar.xz (default: tar.gz for a
                      directory, raw for a file; zstd is not supported); PURPOSE: data | code | config | media
                      (default data); LIFECYCLE: init | startup | runtime | shutdown | cache | temporary | lazy |
                      eager | dev | config | platform (default runtime); PERM: octal, no setuid/setgid/sticky
  --launcher FILE     launcher bytes at offset 0 (default: a fixed placeholder /bin/sh script that explains
                      itself and exits 64; see docs/packages.md)
  --command CMD       execution.command in the metadata (default "")
  --key PEM           Ed25519 private key: PKCS#8 PEM, or encrypted (custody sealed / PBES2) with
                      --passphrase-file FILE or CUSTODY_PASSPHRASE; refused if readable by group or others
  --seed-file FILE    Ed25519 seed = SHA-256(UTF-8 text, one trailing newline removed) — NOT for production
  --ephemeral-key     a fresh random key (the package can only ever be "intact, signer not trusted")
  --output FILE       the package to write (atomically); --force replaces an existing file
  SOURCE_DATE_EPOCH   seconds: tar mtimes and build timestamp (else mtimes 0 and the current time)

examples:
  custody pack --slot dist:tar.gz:code --name app --version 1.0.0 --key app.key --output app.psp
  SOURCE_DATE_EPOCH=1700000000 custody pack --build build.toml --seed-file ci.seed --output app.psp`,
  run: async (ctx: CommandContext): Promise<number> => {
    const { values, positionals } = parseCommandArgs(ctx.argv, {
      build: { type: 'string' },
      slot: { type: 'string', multiple: true },
      name: { type: 'string' },
      version: { type: 'string' },
      launcher: { type: 'string' },
      command: { type: 'string' },
      key: { type: 'string' },
      'seed-file': { type: 'string' },
      'passphrase-file': { type: 'string' },
      'ephemeral-key': { type: 'boolean' },
      output: { type: 'string' },
      force: { type: 'boolean' },
    });
    if (positionals.length > 0) throw new UsageError('ERR_USAGE_ARGUMENT', `unexpected argument ${JSON.stringify(positionals[0])}`);
    const spec: BuildSpec = values.build !== undefined ? await parseBuildFile(resolve(ctx.cwd, values.build)) : { slots: [] };
    for (const s of values.slot ?? []) spec.slots.push(await parseSlotFlag(ctx, s));
    const name = values.name ?? spec.name;
    const version = values.version ?? spec.version;
    if (name === undefined || name === '') throw new UsageError('ERR_USAGE_ARGUMENT', 'missing --name (or name in the build file)');
    if (version === undefined || version === '') throw new UsageError('ERR_USAGE_ARGUMENT', 'missing --version (or version in the build file)');
    if (spec.slots.length === 0) throw new UsageError('ERR_USAGE_ARGUMENT', 'no slots: pass --slot or a --build file with slots');
    if (values.output === undefined) throw new UsageError('ERR_USAGE_ARGUMENT', 'missing required option --output');
    const output = resolve(ctx.cwd, values.output);
    for (const s of spec.slots) {
      if ('path' in s.source && resolve(s.source.path) === output) throw new UsageError('ERR_USAGE_ARGUMENT', 'the output is also an input');
    }
    const launcherPath = values.launcher !== undefined ? resolve(ctx.cwd, values.launcher) : spec.launcher;
    const launcher = launcherPath === undefined ? undefined : await readFileBounded(launcherPath, { maxBytes: LAUNCHER_MAX_BYTES, allowSymlink: true, what: 'launcher' });
    const key = await loadPackSigningKey(ctx, values);
    const sde = parseSourceDateEpoch(ctx.env.SOURCE_DATE_EPOCH);
    const command = values.command ?? spec.command;
    const w = await writePackage({
      output,
      name,
      version,
      slots: spec.slots,
      key,
      now: ctx.now,
      ...(launcher === undefined ? {} : { launcher: new Uint8Array(launcher) }),
      ...(command === undefined ? {} : { command }),
      ...(sde === undefined ? {} : { sourceDateEpoch: sde }),
      ...(values.force === true ? { overwrite: true } : {}),
    });
    ctx.print(`wrote ${values.output} (${w.size} bytes, sha256:${w.sha256})`);
    ctx.print(`signer: ed25519 ${w.publicKey}`);
    for (const s of w.slots) ctx.print(`  slot ${s.id}: ${s.operations}, ${s.originalSize} → ${s.storedSize} bytes, sha256:${s.sha256}`);
    ctx.result({ path: output, size: w.size, sha256: w.sha256, publicKey: w.publicKey, slots: w.slots, reproducible: sde !== undefined });
    return 0;
  },
};
