/**
 * cli/commands/inspect — `custody inspect PACKAGE [--json]`: what a PSPF/2025 package (FlavorPack v0.3.0 layout)
 * contains — package, signer, launcher, slots, index fields.
 *
 * Trust boundary: inspect performs the QUICK verification (index checksum, metadata sha-256, signature, slot table
 * against the signed metadata) and refuses a package that fails it; it does not read slot bytes or judge the
 * signer. It says so in its output: run `custody verify` for that.
 */
import { resolve } from 'node:path';
import { LIFECYCLES, PLATFORMS, PURPOSES } from '../../pkg/descriptor.ts';
import { formatOperations } from '../../pkg/operations.ts';
import { readPackage } from '../../pkg/reader.ts';
import type { PspfPackage } from '../../pkg/pspf.types.ts';
import { UsageError } from '../../errors.ts';
import { parseCommandArgs, type Command, type CommandContext } from '../context.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** safe escapes control characters in signed-but-attacker-chosen strings before they reach a terminal. */
export function safe(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** inspectJson renders the model for --json (u64 fields as decimal strings when they may exceed 2^53). */
export function inspectJson(m: PspfPackage): Record<string, unknown> {
  const i = m.index;
  return {
    path: m.path,
    fileSize: m.fileSize,
    verified: 'quick (index, metadata signature, slot table); run `custody verify` for every byte and the signer',
    package: { name: m.metadata.name, version: m.metadata.version, format: m.metadata.format, formatVersion: m.metadata.formatVersion },
    signer: { publicKey: m.signer.hex, fingerprint: m.signer.fingerprint, signature: hex(m.signature) },
    launcher: { size: m.launcherSize, sha256: hex(m.metadata.launcher.sha256), tool: m.metadata.launcher.tool ?? null },
    metadata: { offset: m.metadataOffset, size: m.metadataSize, jsonSize: m.metadataJson.length, sha256: hex(i.metadataChecksum) },
    index: {
      formatVersion: `0x${i.formatVersion.toString(16)}`,
      indexChecksum: `0x${i.indexChecksum.toString(16).padStart(8, '0')}`,
      packageSize: Number(i.packageSize),
      slotTableOffset: m.slotTableOffset,
      slotCount: i.slotCount,
      flags: i.flags,
      accessMode: i.accessMode,
      cacheStrategy: i.cacheStrategy,
      pageSize: i.pageSize,
      maxMemory: i.maxMemory.toString(),
      minMemory: i.minMemory.toString(),
      streamChunkSize: i.streamChunkSize,
      buildTimestamp: i.buildTimestamp.toString(),
      capabilities: `0x${i.capabilities.toString(16)}`,
      compatibility: `0x${i.compatibility.toString(16)}`,
      protocolVersion: i.protocolVersion,
    },
    slots: m.slots.map((s) => ({
      index: s.index,
      id: s.meta.id,
      operations: s.meta.operations,
      canonicalOperations: formatOperations(s.chain),
      offset: s.offset,
      storedSize: s.storedSize,
      originalSize: s.originalSize,
      sha256: hex(s.meta.sha256),
      purpose: s.meta.purpose,
      lifecycle: s.meta.lifecycle,
      permissions: s.meta.permissions === null ? null : s.meta.permissions.toString(8).padStart(4, '0'),
      target: s.meta.target,
      source: s.meta.source ?? null,
      descriptor: {
        purpose: PURPOSES[s.descriptor.purpose] ?? s.descriptor.purpose,
        lifecycle: LIFECYCLES[s.descriptor.lifecycle] ?? s.descriptor.lifecycle,
        platform: PLATFORMS[s.descriptor.platform] ?? s.descriptor.platform,
        priority: s.descriptor.priority,
        permissions: s.descriptor.permissions.toString(8).padStart(4, '0'),
        checksum: `0x${s.descriptor.checksum.toString(16).padStart(16, '0')}`,
      },
    })),
  };
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => '  ' + r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
}

export const inspect: Command = {
  summary: 'show what a PSPF/2025 package contains (after its quick verification)',
  usage: `usage: custody inspect PACKAGE [--json]

Shows the package name and version, the signer key, the launcher, every slot (id, operations, sizes, sha-256,
purpose, lifecycle, target) and the index fields. Only the QUICK checks run (index, metadata signature, slot
table); use \`custody verify PACKAGE\` to check every byte and the signer.

example:
  custody inspect app.psp --json`,
  run: async (ctx: CommandContext): Promise<number> => {
    const { positionals } = parseCommandArgs(ctx.argv, {});
    if (positionals.length !== 1) throw new UsageError('ERR_USAGE_ARGUMENT', `expected one PACKAGE, got ${positionals.length} arguments`);
    const m = await readPackage(resolve(ctx.cwd, positionals[0]!));
    ctx.print(`package: ${safe(m.metadata.name)} ${safe(m.metadata.version)} (${m.metadata.format}, ${m.fileSize} bytes)`);
    ctx.print(`signer: ed25519 ${m.signer.hex} (${m.signer.fingerprint})`);
    ctx.print('signature: valid over the metadata (quick check); run `custody verify` for every byte and the signer');
    ctx.print(`launcher: ${m.launcherSize} bytes, sha256:${hex(m.metadata.launcher.sha256)}${m.metadata.launcher.tool ? ` (${safe(m.metadata.launcher.tool)})` : ''}`);
    ctx.print(`slots: ${m.slots.length}`);
    if (m.slots.length > 0) {
      const rows = [
        ['#', 'id', 'operations', 'stored', 'decoded', 'purpose', 'lifecycle', 'target', 'sha256'],
        ...m.slots.map((s) => [
          String(s.index),
          safe(s.meta.id),
          formatOperations(s.chain),
          String(s.storedSize),
          String(s.originalSize),
          safe(s.meta.purpose),
          safe(s.meta.lifecycle),
          safe(s.meta.target),
          hex(s.meta.sha256).slice(0, 16) + '…',
        ]),
      ];
      for (const line of table(rows)) ctx.print(line);
    }
    ctx.result(inspectJson(m));
    return 0;
  },
};
