/**
 * fuzz/targets/pkg — PSPF/2025 packages (src/pkg): whole files through openPackage + verifyPackage, the index, the
 * metadata and the slot table each replaced inside an otherwise valid package, each codec's decoder on its own, and
 * the writer → reader round trip (what writePackage wrote must read back, verify and decode to the same bytes).
 */
import { promises as fsp, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { ByteBudget, DecodeGuard } from '../../src/archive/extract.ts';
import { computeIndexChecksum, decodeStream, encodeStream, openPackage, parseMetadata, decompressMetadata, verifyPackage, writePackage, PSPF_TRAILER_BYTES, PSPF_INDEX_BYTES, type OpName, type PackageReader } from '../../src/pkg/index.ts';
import { encodeTar } from '../../src/archive/tar-write.ts';
import { key } from '../../test/support/fixtures.ts';
import { fieldMutations, jsonFieldMutations, withTail } from '../structured.ts';
import { enc, expectSame, type FuzzTarget, type TargetContext } from '../target.ts';
import { corpusFiles } from './corpus.ts';

const SIGNER = key('pspf');
const LIMITS = { maxMetadataBytes: 1 << 20 };

/** samplePackages writes packages with a slot of every codec and returns their bytes. */
async function samplePackages(ctx: TargetContext): Promise<Uint8Array[]> {
  const tarBytes = encodeTar([{ path: 'a.txt', type: 'file', data: enc.encode('hello tar\n') }, { path: 'd', type: 'directory' }]);
  const chains = ['raw', 'gzip', 'bzip2', 'xz', 'tar', 'tar.gz', 'tar.bz2', 'tar.xz'];
  const out: Uint8Array[] = [];
  for (const [i, group] of [chains.slice(0, 4), chains.slice(4)].entries()) {
    const p = join(ctx.tmpDir, `seed-${i}.psp`);
    await writePackage({
      output: p,
      name: 'fuzz',
      version: '1.0.0',
      key: SIGNER,
      sourceDateEpoch: 1_700_000_000,
      overwrite: true,
      slots: group.map((ops, j) => ({ id: `s${j}`, operations: ops, source: { kind: 'bytes', data: ops.startsWith('tar') ? tarBytes : enc.encode(`slot ${ops} `.repeat(20)) } })),
    });
    out.push(new Uint8Array(await fsp.readFile(p)));
  }
  return out;
}

let counter = 0;

/**
 * openAndVerify writes bytes to the worker's one input file, opens and verifies it (deep, or paranoid for 1 input in
 * 4). The harness's own file work is synchronous (a write into tmpfs, no thread-pool round trips) and reuses one
 * path, so the asynchronous I/O an input costs is the reader's.
 */
async function openAndVerify(ctx: TargetContext, bytes: Uint8Array): Promise<unknown> {
  const p = join(ctx.tmpDir, 'input.psp');
  counter++;
  writeFileSync(p, bytes);
  let reader: PackageReader | undefined;
  try {
    reader = await openPackage(p, { limits: LIMITS });
    const paranoid = counter % 4 === 0;
    return await verifyPackage(reader, { level: paranoid ? 'paranoid' : 'deep', trust: { anySigner: true }, scratchDir: ctx.tmpDir });
  } finally {
    await reader?.close();
  }
}

export const pspf: FuzzTarget = {
  name: 'pspf',
  parses: 'whole PSPF packages (open + deep/paranoid verify)',
  async make(ctx) {
    const built = await samplePackages(ctx);
    const vectors = await corpusFiles(ctx.repoRoot, (f) => f.endsWith('.psp'), 8, 1 << 20);
    return { seeds: [...built, ...vectors], run: (input: Uint8Array) => openAndVerify(ctx, input) };
  },
};

/** region replaces [start, start+len) of a valid package with the input (padded/truncated to len unless `free`). */
function regionTarget(name: string, parses: string, locate: (pkg: Uint8Array) => { start: number; len: number }, fix?: (region: Uint8Array) => void): FuzzTarget {
  return {
    name,
    parses,
    async make(ctx) {
      const pkgs = await samplePackages(ctx);
      const base = pkgs[0]!;
      const { start, len } = locate(base);
      const original = base.slice(start, start + len);
      const fields = Array.from({ length: Math.min(64, len / 8) }, (_, i) => ({ offset: i * 8, size: 8 as const }));
      return {
        seeds: [original],
        structured: fieldMutations([original], fields),
        run(input: Uint8Array) {
          const region = new Uint8Array(len);
          region.set(input.subarray(0, len));
          // Half the inputs get a correct checksum, so the mutation reaches the checks behind it.
          if (fix && input.length % 2 === 0) fix(region);
          const whole = base.slice();
          whole.set(region, start);
          return openAndVerify(ctx, whole);
        },
      };
    },
  };
}

function readU64(b: Uint8Array, o: number): number {
  return Number(new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(o, true));
}

const indexStart = (pkg: Uint8Array): number => pkg.length - PSPF_TRAILER_BYTES + 4;

export const pspfIndex = regionTarget('pspf-index', 'PSPF index block (checksum fixed for half the inputs)', (pkg) => ({ start: indexStart(pkg), len: PSPF_INDEX_BYTES }), (region) => {
  new DataView(region.buffer).setUint32(4, computeIndexChecksum(region), true);
});

// Index layout (pkg/trailer parseIndex): slot table offset and size are u64 at 40 and 48.
export const pspfSlotTable = regionTarget('pspf-slot-table', 'PSPF slot table (64-byte descriptors)', (pkg) => {
  const ix = pkg.subarray(indexStart(pkg), indexStart(pkg) + PSPF_INDEX_BYTES);
  return { start: readU64(ix, 40), len: readU64(ix, 48) };
});

export const pspfMetadata: FuzzTarget = {
  name: 'pspf-metadata',
  parses: 'PSPF metadata JSON and its gzip wrapper',
  async make(ctx) {
    const pkgs = await samplePackages(ctx);
    const docs: Uint8Array[] = [];
    for (const b of pkgs) {
      const p = join(ctx.tmpDir, 'meta.psp');
      await fsp.writeFile(p, b);
      const r = await openPackage(p);
      docs.push(r.model.metadataJson);
      await r.close();
    }
    return {
      seeds: docs,
      structured: jsonFieldMutations(docs.map((d) => JSON.parse(Buffer.from(d).toString()) as never)),
      run(input: Uint8Array) {
        if (input[0] === 0x1f) return decompressMetadata(input, 1 << 20);
        return parseMetadata(input, 1 << 20);
      },
    };
  },
};

async function collect(src: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of src) parts.push(c);
  return Buffer.concat(parts);
}

function codecTarget(name: string, chain: OpName[]): FuzzTarget {
  return {
    name,
    parses: `slot decoding: ${chain.join('+').toLowerCase()} streams`,
    async make() {
      const plain = [enc.encode('hello '.repeat(100)), new Uint8Array(5000), enc.encode('x')];
      const layers = chain.filter((c) => c !== 'TAR');
      const seeds = await Promise.all(plain.map((p) => collect(encodeStream([p], layers, 1 << 24, 'seed') as AsyncIterable<Uint8Array>)));
      return {
        seeds,
        structured: withTail(fc.constantFrom(...seeds)),
        async run(input: Uint8Array) {
          const guard = new DecodeGuard(new ByteBudget({ maxTotalBytes: 64 << 20 }), input.length, name);
          return collect(decodeStream([input], layers, { guard, maxBufferedBytes: 64 << 20, what: name }));
        },
      };
    },
  };
}

export const codecGzip = codecTarget('codec-gzip', ['GZIP']);
export const codecBzip2 = codecTarget('codec-bzip2', ['BZIP2']);
export const codecXz = codecTarget('codec-xz', ['XZ']);

/** pspfRoundTrip: slots generated from the input are written, read back, verified and decoded to the same bytes. */
export const pspfRoundTrip: FuzzTarget = {
  name: 'pspf-roundtrip',
  parses: 'PSPF writer → reader round trip (differential)',
  make(ctx) {
    const CHAINS = ['raw', 'gzip', 'bzip2', 'xz'];
    return Promise.resolve({
      seeds: [Uint8Array.of(0, 1, 2, 3, 65, 66, 67), enc.encode('round trip')],
      structured: fc.array(fc.tuple(fc.nat(3), fc.uint8Array({ maxLength: 300 })), { minLength: 1, maxLength: 4 }).map((slots) => {
        const parts: number[] = [];
        for (const [c, d] of slots) parts.push(c, d.length >> 8, d.length & 0xff, ...d);
        return Uint8Array.from(parts);
      }),
      async run(input: Uint8Array) {
        const slots: Array<{ ops: string; data: Uint8Array }> = [];
        for (let o = 0; o + 3 <= input.length && slots.length < 6; ) {
          const n = Math.min((input[o + 1]! << 8) | input[o + 2]!, input.length - o - 3);
          slots.push({ ops: CHAINS[input[o]! % 4]!, data: input.slice(o + 3, o + 3 + n) });
          o += 3 + n;
        }
        if (slots.length === 0) return undefined;
        const p = join(ctx.tmpDir, `rt-${counter++}.psp`);
        await writePackage({ output: p, name: 'rt', version: '0.0.1', key: SIGNER, sourceDateEpoch: 1, overwrite: true, slots: slots.map((s, i) => ({ id: `s${i}`, operations: s.ops, source: { kind: 'bytes', data: s.data } })) });
        const r = await openPackage(p);
        try {
          await verifyPackage(r, { level: 'deep', trust: { keys: [SIGNER.publicKey] } });
          for (const [i, s] of r.model.slots.entries()) {
            const stored = await r.read(s.offset, s.storedSize);
            const guard = new DecodeGuard(new ByteBudget(), stored.length, 'rt');
            const back = await collect(decodeStream([stored], s.chain, { guard, maxBufferedBytes: 1 << 24, what: 'rt' }));
            expectSame(Buffer.from(back).equals(slots[i]!.data), `slot ${i} (${slots[i]!.ops}) decodes to other bytes than were written`);
          }
        } finally {
          await r.close();
          rmSync(p, { force: true });
        }
        return undefined;
      },
    });
  },
};
