/**
 * PSPF/2025 vectors written by FlavorPack v0.3.0's own writer (test/vectors/pspf): every
 * package opens, every field of its facts file matches what we read, valid packages verify (deep) as
 * "intact, signer not trusted" or "authentic" with the facts' key, and T08 — accepted by the reference — is refused
 * with ERR_PKG_SLOT_DIGEST_MISMATCH.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PublicKey, sha256, verifyEd25519 } from '../../src/crypto/index.ts';
import {
  computeIndexChecksum,
  decodeStream,
  formatDescriptor,
  formatIndex,
  formatOperations,
  LIFECYCLES,
  nameHash,
  openPackage,
  parseDescriptor,
  parseIndex,
  PURPOSES,
  readPackage,
  truncatedDigest,
  unpackOperations,
  verifyPackage,
  xzDecodedSize,
  type PspfPackage,
} from '../../src/pkg/index.ts';
import { computeLayout } from '../../src/pkg/writer.ts';
import { ByteBudget } from '../../src/archive/extract.ts';
import { listTar } from '../../src/archive/tar.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { cli } from '../support/cli.ts';
import { listTree, tmpDir } from '../support/tmp.ts';
import { facts, SEED_KEY, SEED_PUBLIC_HEX, vec, VECTORS, verifyCli } from './helpers.ts';

/** Every facts key is checked below or is a writer-side note that no package reader can observe. */
const TOP_LEVEL_KEYS = new Set([
  'file', 'file_size', 'file_sha256', 'trailer_magic_ok', 'index', 'layout', 'signed_message', 'metadata', 'package',
  'independent_signature_check', 'slots', 'reference_verification', 'reference_accepts', 'key', 'public_key_hex', 'tamper',
  // provenance notes (repository, commit, python version) and prose:
  'produced_by', 'description',
]);
const SLOT_KEYS = new Set([
  'index', 'descriptor', 'id', 'operations', 'operations_chain', 'operations_canonical', 'metadata_purpose',
  'metadata_lifecycle', 'metadata_permissions', 'purpose_name', 'lifecycle_name', 'stored_size', 'stored_sha256',
  'original_size', 'metadata_size_field', 'metadata_checksum', 'metadata_checksum_matches_stored',
  'descriptor_checksum_matches_stored', 'name_hash_is_sha256_of_id_le64', 'decoded_size', 'decoded_sha256',
  'tar_members', 'tar_header_format', 'source', 'original_sha256', 'original_content_size', 'reference_read_slot',
]);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const u64hex = (v: bigint, digits = 16): string => `0x${v.toString(16).padStart(digits, '0')}`;

async function decode(pkg: PspfPackage, i: number): Promise<Uint8Array> {
  const s = pkg.slots[i]!;
  const bytes = readFileSync(pkg.path).subarray(s.offset, s.offset + s.storedSize);
  const parts: Uint8Array[] = [];
  for await (const c of decodeStream([bytes], s.chain, { guard: new ByteBudget().guard(s.storedSize, 'test'), maxBufferedBytes: 1 << 26, what: 'test' })) {
    parts.push(Uint8Array.from(c));
  }
  return Buffer.concat(parts);
}

for (const name of VECTORS) {
  test(`vector ${name}: file, index and layout facts`, async () => {
    const f = facts(name);
    for (const k of Object.keys(f)) assert.ok(TOP_LEVEL_KEYS.has(k), `unchecked facts key ${k}`);
    for (const sl of f.slots) for (const k of Object.keys(sl)) assert.ok(SLOT_KEYS.has(k), `unchecked slot facts key ${k}`);
    const bytes = readFileSync(vec(name));
    assert.equal(f.file, `${name}.psp`);
    assert.equal(bytes.length, f.file_size);
    assert.equal(hex(sha256(bytes)), f.file_sha256);
    assert.equal(f.trailer_magic_ok, true);
    // The index parses, re-encodes byte for byte, and its Adler-32 is what the facts recomputed.
    const indexBytes = bytes.subarray(bytes.length - 8196, bytes.length - 4);
    const idx = parseIndex(indexBytes);
    assert.deepEqual(formatIndex(idx, true), new Uint8Array(indexBytes));
    assert.deepEqual(formatIndex(idx), new Uint8Array(indexBytes), 'recomputed checksum equals the stored one');
    assert.equal(`0x${computeIndexChecksum(indexBytes).toString(16).padStart(8, '0')}`, f.index.index_checksum_recomputed_adler32_hex);
    const fi = f.index;
    const expectIndex = {
      format_version: idx.formatVersion,
      index_checksum: idx.indexChecksum,
      package_size: Number(idx.packageSize),
      launcher_size: Number(idx.launcherSize),
      metadata_offset: Number(idx.metadataOffset),
      metadata_size: Number(idx.metadataSize),
      slot_table_offset: Number(idx.slotTableOffset),
      slot_table_size: Number(idx.slotTableSize),
      slot_count: idx.slotCount,
      flags: idx.flags,
      public_key_hex: hex(idx.publicKey),
      metadata_checksum_hex: hex(idx.metadataChecksum),
      signature_hex: hex(idx.signatureField.subarray(0, 64)),
      signature_padding_all_zero: idx.signatureField.subarray(64).every((b) => b === 0),
      access_mode: idx.accessMode,
      cache_strategy: idx.cacheStrategy,
      reserved_hint1: idx.reservedHint1,
      reserved_hint2: idx.reservedHint2,
      page_size: idx.pageSize,
      max_memory: Number(idx.maxMemory),
      min_memory: Number(idx.minMemory),
      cpu_features: Number(idx.cpuFeatures),
      gpu_requirements: Number(idx.gpuRequirements),
      numa_hints: Number(idx.numaHints),
      stream_chunk_size: idx.streamChunkSize,
      build_timestamp: Number(idx.buildTimestamp),
      build_machine_hex: hex(idx.buildMachine),
      source_hash_hex: hex(idx.sourceHash),
      dependency_hash_hex: hex(idx.dependencyHash),
      license_id_hex: hex(idx.licenseId),
      provenance_uri_hex: hex(idx.provenanceUri),
      capabilities: Number(idx.capabilities),
      requirements: Number(idx.requirements),
      extensions: Number(idx.extensions),
      compatibility: idx.compatibility,
      protocol_version: idx.protocolVersion,
      future_crypto_all_zero: idx.futureCrypto.every((b) => b === 0),
      reserved_all_zero: idx.reserved.every((b) => b === 0) && idx.padding692.every((b) => b === 0),
      format_version_hex: `0x${idx.formatVersion.toString(16)}`,
      index_checksum_hex: `0x${idx.indexChecksum.toString(16).padStart(8, '0')}`,
      index_checksum_recomputed_adler32_hex: fi.index_checksum_recomputed_adler32_hex,
      capabilities_hex: `0x${idx.capabilities.toString(16)}`,
    };
    assert.deepEqual(expectIndex, fi, 'every index field of the facts file');

    const pkg = await readPackage(vec(name));
    const l = f.layout;
    assert.deepEqual(
      {
        launcher: { offset: 0, size: pkg.launcherSize, sha256: hex(sha256(bytes.subarray(0, pkg.launcherSize))) },
        metadata: {
          offset: pkg.metadataOffset,
          size: pkg.metadataSize,
          compressed_sha256: hex(sha256(pkg.metadataCompressed)),
          json_size: pkg.metadataJson.length,
          json_sha256: hex(sha256(pkg.metadataJson)),
        },
        slot_table: { offset: pkg.slotTableOffset, size: pkg.slots.length * 64 },
        trailer_offset: bytes.length - 8200,
        index_offset: bytes.length - 8196,
        public_key_file_offset: bytes.length - 8196 + 64,
        metadata_checksum_file_offset: bytes.length - 8196 + 96,
        signature_file_offset: bytes.length - 8196 + 128,
      },
      l,
    );
    // Our writer's layout rules place everything where the reference writer did.
    const lay = computeLayout(pkg.launcherSize, pkg.metadataSize, pkg.slots.map((s) => s.storedSize));
    assert.equal(lay.slotTableOffset, l.slot_table.offset);
    assert.deepEqual(lay.slotOffsets, pkg.slots.map((s) => s.offset));
    assert.equal(lay.packageSize, bytes.length);
  });

  test(`vector ${name}: signed metadata, key and signature facts`, async () => {
    const f = facts(name);
    const pkg = await readPackage(vec(name));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(pkg.metadataJson)), f.metadata);
    assert.deepEqual(pkg.metadata.raw, f.metadata, 'the strict parser keeps every field');
    assert.deepEqual({ name: pkg.metadata.name, version: pkg.metadata.version }, f.package);
    assert.match(f.signed_message, /exact decompressed metadata JSON bytes/);
    assert.equal(verifyEd25519(PublicKey.fromRaw(pkg.index.publicKey), pkg.metadataJson, pkg.signature), f.independent_signature_check);
    assert.equal(pkg.signer.hex, f.public_key_hex);
    if (f.key.source === 'seed') {
      // FlavorPack's --key-seed rule: Ed25519 seed = SHA-256(utf8(seed)); RFC 8032 signing is deterministic.
      assert.equal(f.key.derivation, 'ed25519_seed = SHA-256(utf8(seed)); private key = that 32-byte seed');
      assert.equal(SEED_KEY.publicKey.hex, f.key.derived_public_key_hex);
      assert.equal(f.key.derived_public_key_hex === pkg.signer.hex, f.key.matches_index_public_key);
      assert.deepEqual(SEED_KEY.sign(pkg.metadataJson), pkg.signature, 'we re-create the reference signature exactly');
    } else {
      assert.match(f.key.source, /ephemeral/);
    }
    // The reference writes the launcher checksum as "sha256:sha256:<hex>"; we read it.
    assert.equal(`sha256:sha256:${hex(pkg.metadata.launcher.sha256)}`, f.metadata.launcher.checksum);
  });

  test(`vector ${name}: every slot fact`, async () => {
    const f = facts(name);
    const pkg = await readPackage(vec(name));
    const bytes = readFileSync(vec(name));
    assert.equal(pkg.slots.length, f.slots.length);
    for (const fs of f.slots) {
      const s = pkg.slots[fs.index]!;
      const d = s.descriptor;
      const raw = bytes.subarray(pkg.slotTableOffset + s.index * 64, pkg.slotTableOffset + s.index * 64 + 64);
      assert.deepEqual(parseDescriptor(raw), d);
      assert.equal(hex(formatDescriptor(d)), fs.descriptor.raw_hex, 'descriptor re-encodes byte for byte');
      assert.deepEqual(
        {
          id: Number(d.id),
          name_hash_hex: u64hex(d.nameHash),
          offset: Number(d.offset),
          size: Number(d.size),
          original_size: Number(d.originalSize),
          operations_hex: u64hex(d.operations),
          checksum_hex: u64hex(d.checksum),
          purpose: d.purpose,
          lifecycle: d.lifecycle,
          priority: d.priority,
          platform: d.platform,
          reserved1: d.reserved1,
          reserved2: d.reserved2,
          permissions_octal: d.permissions.toString(8).padStart(4, '0'),
          raw_hex: hex(raw),
        },
        fs.descriptor,
        `slot ${fs.index} descriptor`,
      );
      const stored = bytes.subarray(s.offset, s.offset + s.storedSize);
      const storedSha = hex(sha256(stored));
      const decoded = await decode(pkg, s.index);
      const expected: Record<string, unknown> = {
        index: s.index,
        id: s.meta.id,
        operations: s.meta.operations,
        operations_chain: unpackOperations(d.operations),
        operations_canonical: formatOperations(s.chain),
        metadata_purpose: s.meta.purpose,
        metadata_lifecycle: s.meta.lifecycle,
        metadata_permissions: s.meta.permissions === null ? null : s.meta.permissions.toString(8).padStart(4, '0'),
        purpose_name: PURPOSES[d.purpose],
        lifecycle_name: LIFECYCLES[d.lifecycle],
        stored_size: s.storedSize,
        stored_sha256: storedSha,
        original_size: s.originalSize,
        metadata_size_field: s.meta.size,
        metadata_checksum: `sha256:${hex(s.meta.sha256)}`,
        metadata_checksum_matches_stored: storedSha === hex(s.meta.sha256),
        descriptor_checksum_matches_stored: truncatedDigest(sha256(stored)) === d.checksum,
        name_hash_is_sha256_of_id_le64: nameHash(s.meta.id) === d.nameHash,
        decoded_size: decoded.length,
        decoded_sha256: hex(sha256(decoded)),
      };
      for (const [k, v] of Object.entries(expected)) assert.deepEqual(v, fs[k], `slot ${fs.index} ${k}`);
      // Writer-side facts (what the reference was fed) are not in the package; they equal what we decode unless
      // the vector was tampered with after writing (T08 slot 0).
      if (name !== 'T08-slot-swap-descriptor-updated' || s.index !== 0) {
        assert.equal(fs.original_sha256, hex(sha256(decoded)));
        assert.equal(fs.original_content_size, decoded.length);
      }
      // What the reference reader's read_slot returns: decoded for gzip/raw/tar, stored for bzip2/xz layers.
      assert.ok([storedSha, hex(sha256(decoded))].includes(fs.reference_read_slot.sha256));
      if (fs.tar_members) {
        assert.equal(fs.tar_header_format, 'ustar/pax');
        const members = (await listTar(decoded)).map((m) => ({
          path: m.header.path,
          type: m.header.type,
          mode: m.header.mode.toString(8).padStart(4, '0'),
          size: m.header.size,
          uid: m.header.uid,
          gid: m.header.gid,
          uname: m.header.uname,
          gname: m.header.gname,
          mtime: m.header.mtime,
          sha256: hex(sha256(m.data)),
        }));
        assert.deepEqual(members, fs.tar_members, `slot ${fs.index} tar members`);
      }
      if (s.chain.at(-1) === 'XZ') assert.equal(xzDecodedSize(stored), decoded.length, 'xz chunk walk predicts the size');
      assert.ok(['file', 'directory (writer builds a deterministic tar)'].includes(fs.source.kind));
    }
  });
}

test('valid vectors verify (deep and paranoid): intact, signer not trusted; authentic with the facts key', async (t) => {
  const dir = tmpDir(t);
  for (const name of ['03-multi-ops', '04-seeded']) {
    const f = facts(name);
    assert.equal(f.reference_accepts, true);
    const r = await verifyCli([vec(name), '--deep', '--allow-any-signer'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /intact, signer not trusted/);
    const a = await verifyCli([vec(name), '--deep', '--trusted-key', f.public_key_hex], { cwd: dir });
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /: authentic/);
    assert.doesNotMatch(a.stdout, /not trusted/);
    const p = await verifyCli([vec(name), '--paranoid', '--json', '--trusted-key', f.public_key_hex], { cwd: dir });
    assert.equal(p.code, 0, p.stderr);
    const j = JSON.parse(p.stdout) as { ok: boolean; status: string; level: string; slots: Array<{ digestVerified: boolean }> };
    assert.equal(j.ok, true);
    assert.equal(j.level, 'paranoid');
    assert.ok(j.slots.every((s) => s.digestVerified));
    // A different trusted key refuses the intact package: the signer is not the one pinned.
    const u = await verifyCli([vec(name), '--trusted-key', 'ab'.repeat(32)], { cwd: dir });
    assert.equal(u.code, 1);
  }
  assert.deepEqual(listTree(dir), [], 'verification writes nothing');
});

test('CUSTODY_ALLOWED_KEYS accepts hex keys and SHA256 fingerprints', async (t) => {
  const dir = tmpDir(t);
  const fp = PublicKey.fromRaw(Buffer.from(SEED_PUBLIC_HEX, 'hex')).fingerprint;
  for (const list of [SEED_PUBLIC_HEX, `${'11'.repeat(32)}, ${fp}`]) {
    const r = await verifyCli([vec('04-seeded')], { cwd: dir, env: { CUSTODY_ALLOWED_KEYS: list } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /authentic/);
  }
  const bad = await verifyCli([vec('04-seeded')], { cwd: dir, env: { CUSTODY_ALLOWED_KEYS: 'not-a-key' } });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /\[ERR_CONFIG_INVALID\]/);
  const other = await verifyCli([vec('04-seeded')], { cwd: dir, env: { CUSTODY_ALLOWED_KEYS: '11'.repeat(32) } });
  assert.equal(other.code, 1);
  assert.match(other.stderr, /\[ERR_PKG_UNTRUSTED_SIGNER\]/);
});

test('T08 (slot bytes swapped, unsigned descriptor checksum updated) is refused with ERR_PKG_SLOT_DIGEST_MISMATCH', async (t) => {
  const f = facts('T08-slot-swap-descriptor-updated');
  // The reference accepts it: every one of its verifiers said valid.
  assert.equal(f.reference_accepts, true);
  assert.equal(f.reference_verification.flavor_verify_cli.accepted, true);
  // Its signature and descriptor checksum are fine, so the quick level cannot see it...
  const r = await openPackage(vec('T08-slot-swap-descriptor-updated'));
  try {
    const trust = { keys: [SEED_KEY.publicKey] };
    await verifyPackage(r, { level: 'quick', trust });
    await assertRejectsCode(verifyPackage(r, { level: 'deep', trust }), 'ERR_PKG_SLOT_DIGEST_MISMATCH');
    await assertRejectsCode(verifyPackage(r, { level: 'paranoid', trust }), 'ERR_PKG_SLOT_DIGEST_MISMATCH');
  } finally {
    await r.close();
  }
  // The tamper is exactly what the facts say: T08 = 04 with slot 0's text and its descriptor checksum changed.
  const tamper = f.tamper;
  assert.ok(tamper);
  const base = readFileSync(vec(tamper.base.replace(/\.psp$/, '')));
  const t08 = readFileSync(vec('T08-slot-swap-descriptor-updated'));
  const diff = [...t08.keys()].filter((i) => t08[i] !== base[i]);
  assert.ok(diff.every((i) => (i >= 4096 && i < 4096 + 38) || (i >= 1128 && i < 1136)), `unexpected edits at ${diff.join(',')}`);
  const [from, to] = tamper.edits[0]!.replace!.split(' -> ');
  assert.ok(base.subarray(4096, 4134).toString().includes(from!) && t08.subarray(4096, 4134).toString().includes(to!));
  assert.equal(`0x${t08.readBigUInt64LE(1128).toString(16)}`, tamper.edits[1]!.set);
  const dir = tmpDir(t);
  for (const argv of [['--allow-any-signer'], ['--deep', '--allow-any-signer'], ['--paranoid', '--allow-any-signer'], ['--trusted-key', f.public_key_hex]]) {
    const v = await verifyCli([vec('T08-slot-swap-descriptor-updated'), ...argv], { cwd: dir });
    assert.equal(v.code, 1, argv.join(' '));
    assert.match(v.stderr, /^custody: error: slot 0 \(hello\): stored bytes hash to sha256:7c8619c5.*\[ERR_PKG_SLOT_DIGEST_MISMATCH\]$/m);
  }
  const x = await cli(['extract', vec('T08-slot-swap-descriptor-updated'), join(dir, 'out'), '--allow-any-signer'], { cwd: dir });
  assert.equal(x.code, 1);
  assert.match(x.stderr, /\[ERR_PKG_SLOT_DIGEST_MISMATCH\]/);
  assert.deepEqual(listTree(dir), []);
});

test('`custody verify` sends a PSPF package to the package verifier; --json gives the report', async (t) => {
  const dir = tmpDir(t);
  const r = await cli(['verify', vec('04-seeded'), '--quick', '--json', '--allow-any-signer'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { ok: boolean; status: string; level: string; signer: { publicKey: string } };
  assert.deepEqual([j.ok, j.status, j.level, j.signer.publicKey], [true, 'intact, signer not trusted', 'quick', SEED_PUBLIC_HEX]);
  const t08 = await cli(['verify', vec('T08-slot-swap-descriptor-updated'), '--json', '--allow-any-signer'], { cwd: dir });
  assert.equal(t08.code, 1);
  assert.equal((JSON.parse(t08.stdout) as { code: string }).code, 'ERR_PKG_SLOT_DIGEST_MISMATCH');
  const h = await cli(['verify', '--help'], { cwd: dir });
  assert.match(h.stdout, /usage: custody verify-package PACKAGE \[--quick \| --deep \| --paranoid\]/);
});
