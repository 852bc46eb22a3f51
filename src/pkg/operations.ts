/**
 * pkg/operations — PSPF/2025 operation chains as FlavorPack v0.3.0 encodes them.
 *
 * A slot's `operations` is a u64 holding up to 8 one-byte op codes packed LSB-first; the first 0x00 ends the chain.
 * Codes: NONE=0x00 TAR=0x01 GZIP=0x10 BZIP2=0x13 XZ=0x16 ZSTD=0x1B (FEP-0003 reserves other ranges). The chain is
 * applied in order when packing (`tar.gz` = TAR then GZIP = 0x1001) and undone in reverse when unpacking.
 * The signed metadata names the chain as a string: `raw|none`, `gzip`, `tar`, `tar.gz|tgz`, `tar.bz2|tbz2`,
 * `tar.xz|txz`, `tar.zst`, `bzip2`, `xz`, `zstd`, or the pipe form `TAR|GZIP`.
 *
 * Trust boundary: the u64 in the slot descriptor is unsigned; the string in the metadata is signed. pkg/reader
 * requires both to name the same chain, so the descriptor can never change how signed bytes are decoded.
 * Chains we accept: TAR at most once and only first (innermost), then any compression ops. ZSTD parses but is
 * reported as unsupported when bytes must be decoded or encoded (Node 20's zlib has no zstd; no new dependency).
 */
import { FormatError } from '../errors.ts';

/** OP_CODES maps operation names to their one-byte codes. */
export const OP_CODES = { TAR: 0x01, GZIP: 0x10, BZIP2: 0x13, XZ: 0x16, ZSTD: 0x1b } as const;

/** OpName is a known operation. */
export type OpName = keyof typeof OP_CODES;

/** MAX_CHAIN_OPS: a u64 holds 8 one-byte codes. */
export const MAX_CHAIN_OPS = 8;

const BY_CODE = new Map<number, OpName>(Object.entries(OP_CODES).map(([k, v]) => [v, k as OpName]));

const ALIASES: Readonly<Record<string, readonly OpName[]>> = {
  raw: [],
  none: [],
  gzip: ['GZIP'],
  tar: ['TAR'],
  'tar.gz': ['TAR', 'GZIP'],
  tgz: ['TAR', 'GZIP'],
  'tar.bz2': ['TAR', 'BZIP2'],
  tbz2: ['TAR', 'BZIP2'],
  'tar.xz': ['TAR', 'XZ'],
  txz: ['TAR', 'XZ'],
  'tar.zst': ['TAR', 'ZSTD'],
  bzip2: ['BZIP2'],
  xz: ['XZ'],
  zstd: ['ZSTD'],
};

function checkChain(chain: readonly OpName[], what: string): void {
  if (chain.length > MAX_CHAIN_OPS) {
    throw new FormatError('ERR_PKG_OPERATION_UNSUPPORTED', `${what}: expected at most ${MAX_CHAIN_OPS} operations, got ${chain.length}`);
  }
  const tarAt = chain.indexOf('TAR');
  if (tarAt > 0 || chain.lastIndexOf('TAR') !== tarAt) {
    throw new FormatError('ERR_PKG_OPERATION_UNSUPPORTED', `${what}: TAR must come first and at most once, got ${chain.join('|')}`);
  }
}

/**
 * parseOperations reads the metadata string form. Names are case-insensitive as in the reference; an unknown name
 * gives ERR_PKG_OPERATION_UNSUPPORTED.
 */
export function parseOperations(text: string, what = 'operations'): OpName[] {
  const lower = text.trim().toLowerCase();
  let chain: OpName[];
  // Own properties only: the name comes from the package, and "__proto__" or "constructor" would otherwise reach
  // Object.prototype (a raw TypeError, found by fuzzing, issue 16).
  const alias = Object.hasOwn(ALIASES, lower) ? ALIASES[lower] : undefined;
  if (alias) chain = [...alias];
  else if (lower.includes('|')) {
    chain = lower.split('|').map((p) => {
      const name = p.trim().toUpperCase();
      if (!Object.hasOwn(OP_CODES, name)) {
        throw new FormatError('ERR_PKG_OPERATION_UNSUPPORTED', `${what}: unknown operation ${JSON.stringify(p)}`);
      }
      return name as OpName;
    });
  } else {
    throw new FormatError('ERR_PKG_OPERATION_UNSUPPORTED', `${what}: unknown operations ${JSON.stringify(text)}`);
  }
  checkChain(chain, what);
  return chain;
}

/** packOperations encodes a chain into the descriptor's u64 (first op in the low byte). */
export function packOperations(chain: readonly OpName[]): bigint {
  checkChain(chain, 'operations');
  let v = 0n;
  chain.forEach((op, i) => {
    v |= BigInt(OP_CODES[op]) << BigInt(8 * i);
  });
  return v;
}

/**
 * unpackOperations decodes the descriptor's u64. Bytes after the terminating 0x00 must be zero, so one chain has
 * exactly one encoding.
 */
export function unpackOperations(v: bigint, what = 'slot operations'): OpName[] {
  const chain: OpName[] = [];
  let ended = false;
  for (let i = 0; i < MAX_CHAIN_OPS; i++) {
    const code = Number((v >> BigInt(8 * i)) & 0xffn);
    if (code === 0) {
      ended = true;
      continue;
    }
    if (ended) throw new FormatError('ERR_PKG_OPERATION_UNSUPPORTED', `${what}: op code after the terminating 0x00`);
    const name = BY_CODE.get(code);
    if (!name) {
      throw new FormatError('ERR_PKG_OPERATION_UNSUPPORTED', `${what}: unknown op code 0x${code.toString(16).padStart(2, '0')}`);
    }
    chain.push(name);
  }
  checkChain(chain, what);
  return chain;
}

/** formatOperations gives the canonical string form (`raw`, `gzip`, `tar.gz`, … or the pipe form otherwise). */
export function formatOperations(chain: readonly OpName[]): string {
  const key = chain.join('|');
  const canon: Record<string, string> = {
    '': 'raw',
    GZIP: 'gzip',
    TAR: 'tar',
    'TAR|GZIP': 'tar.gz',
    'TAR|BZIP2': 'tar.bz2',
    'TAR|XZ': 'tar.xz',
    'TAR|ZSTD': 'tar.zst',
    BZIP2: 'bzip2',
    XZ: 'xz',
    ZSTD: 'zstd',
  };
  return canon[key] ?? key;
}

/** isTarChain says whether the decoded slot is a tar archive (TAR is the innermost operation). */
export function isTarChain(chain: readonly OpName[]): boolean {
  return chain[0] === 'TAR';
}

/** compressionLayers are the chain's compression ops, innermost first. */
export function compressionLayers(chain: readonly OpName[]): OpName[] {
  return chain.filter((op) => op !== 'TAR');
}
