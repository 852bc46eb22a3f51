/**
 * fuzz/targets/archive — tar archives (src/archive): listed by the reader and extracted by SafeExtractor into a
 * fresh directory under the worker's temp dir (the fs guard turns any write elsewhere into a finding); ZIP archives
 * (src/archive/zip.ts): opened and every entry read.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { extractTar } from '../../src/archive/extract.ts';
import fc from 'fast-check';
import { listTar } from '../../src/archive/tar-read.ts';
import { openZip } from '../../src/archive/zip.ts';
import { buildZip } from '../../test/support/zip.ts';
import { encodeTar } from '../../src/archive/tar-write.ts';
import { fieldMutations, type BinaryField } from '../structured.ts';
import { enc, type FuzzTarget } from '../target.ts';
import { corpusFiles } from './corpus.ts';

// Header fields are octal text; the structured engine writes binary values into them, which is exactly the garbage
// a hostile archive carries (the size field also takes GNU base-256 when its top bit is set).
const HEADER_FIELDS: BinaryField[] = [100, 108, 116, 124, 132, 148, 156, 257, 263, 329, 337, 345].flatMap((o) => [
  { offset: o, size: 8 as const },
  { offset: o + 512 + 512, size: 4 as const },
]);

const USTAR = enc.encode('ustar');

/** fixChecksums rewrites the checksum of every 512-byte-aligned block that carries the ustar magic. */
function fixChecksums(b: Uint8Array): Uint8Array {
  const out = b.slice();
  for (let o = 0; o + 512 <= out.length; o += 512) {
    if (!USTAR.every((c, i) => out[o + 257 + i] === c)) continue;
    out.fill(0x20, o + 148, o + 156);
    let sum = 0;
    for (let i = o; i < o + 512; i++) sum += out[i]!;
    out.set(enc.encode(sum.toString(8).padStart(6, '0') + '\0 '), o + 148);
  }
  return out;
}

export const tar: FuzzTarget = {
  name: 'tar',
  parses: 'tar archives (readTar, SafeExtractor)',
  async make(ctx) {
    const built = [
      encodeTar([
        { path: 'dir', type: 'directory' },
        { path: 'dir/a.txt', type: 'file', data: enc.encode('hello\n') },
        { path: 'b', type: 'file', data: new Uint8Array(700) },
      ]),
      encodeTar([{ path: 'x'.repeat(120) + '/long-name-needs-pax.txt', type: 'file', data: enc.encode('pax') }]),
      encodeTar([
        { path: 'f', type: 'file', data: enc.encode('f') },
        { path: 'l', type: 'symlink', linkpath: 'f' },
      ]),
    ];
    const files = await corpusFiles(ctx.repoRoot, (p) => p.endsWith('.tar'), 16, 256 * 1024);
    let n = 0;
    return {
      seeds: [...built, ...files],
      structured: fieldMutations(built, HEADER_FIELDS),
      async run(raw: Uint8Array) {
        // Half the inputs get their header checksums recomputed, so mutated headers reach the checks behind them.
        const input = raw.length % 2 === 0 ? fixChecksums(raw) : raw;
        await listTar(input);
        const dest = join(ctx.tmpDir, `x${n++}`);
        try {
          return await extractTar([input], dest, { allowLinks: (n & 1) === 0 });
        } finally {
          await fsp.rm(dest, { recursive: true, force: true });
        }
      },
    };
  },
};

/** zipFields finds the length, size, CRC and offset fields of every header of a zip (APPNOTE 6.3.10 §4.3). */
function zipFields(b: Uint8Array): BinaryField[] {
  const out: BinaryField[] = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i + 4 <= b.length; i++) {
    const sig = dv.getUint32(i, true);
    if (sig === 0x04034b50) for (const [o, size] of [[6, 2], [8, 2], [14, 4], [18, 4], [22, 4], [26, 2], [28, 2]] as const) out.push({ offset: i + o, size });
    else if (sig === 0x02014b50) for (const [o, size] of [[8, 2], [10, 2], [16, 4], [20, 4], [24, 4], [28, 2], [30, 2], [32, 2], [42, 4]] as const) out.push({ offset: i + o, size });
    else if (sig === 0x06054b50) for (const [o, size] of [[4, 2], [6, 2], [8, 2], [10, 2], [12, 4], [16, 4], [20, 2]] as const) out.push({ offset: i + o, size });
  }
  return out;
}

export const zip: FuzzTarget = {
  name: 'zip',
  parses: 'ZIP archives (openZip, then every entry read: inflate, size and CRC-32 checks)',
  async make(ctx) {
    const big = 'x'.repeat(5000) + JSON.stringify({ id: 'OSV-1', affected: [] });
    const built = [
      buildZip([{ name: 'a.json', data: big }, { name: 'sub/' }, { name: 'sub/b.txt', data: 'hello\n', method: 0 }]),
      buildZip([{ name: 'one.json', data: '{"id":"GHSA-x"}' }]),
      buildZip([{ name: 'stored', data: 'stored bytes', method: 0 }, { name: 'deflated', data: 'deflated bytes '.repeat(20) }]),
    ].map((b) => new Uint8Array(b));
    const corpus = await corpusFiles(ctx.repoRoot, (p) => p.endsWith('.zip'), 10, 256 * 1024);
    return {
      seeds: [...built, ...corpus],
      structured: fc.oneof(...built.map((b) => fieldMutations([b], zipFields(b)))),
      run(input: Uint8Array) {
        const z = openZip(input);
        let total = 0;
        for (const e of z.entries) total += z.read(e).length;
        return total;
      },
    };
  },
};
