/**
 * encoding/der — a bounded reader of ASN.1 DER (ITU-T X.690 §8 and §10), only as far as Custody reads DER itself:
 * the parameters of an encrypted PKCS#8 key (keys/pkcs8-encrypted), checked before OpenSSL derives anything.
 *
 * One TLV at a time over a byte range: single-byte tags only (no high-tag-number form), definite lengths only (short
 * form, or long form of at most 4 length octets), every length inside its parent. Nothing is decoded past what a
 * caller asks for. Every refusal is ERR_KEY_INVALID: DER is read here only for keys.
 *
 * It is as lenient as OpenSSL where OpenSSL reads the same values (a check must read what OpenSSL will): non-minimal
 * lengths, and bytes after the last element a caller reads, are not refused. INTEGERs with leading zero octets
 * read as their value (OpenSSL refuses them, so the key fails to open there).
 */
import { FormatError } from '../errors.ts';

/** DER tags this reader names. */
export const DER_INTEGER = 0x02;
export const DER_OCTET_STRING = 0x04;
export const DER_OID = 0x06;
export const DER_SEQUENCE = 0x30;

/** DerElement is one TLV: its tag and its content bytes (a view of the input). */
export interface DerElement {
  tag: number;
  content: Uint8Array;
}

function malformed(what: string, message: string): FormatError {
  return new FormatError('ERR_KEY_INVALID', `${what}: ${message}`);
}

/** DerReader reads the TLVs of one constructed value's content (or a whole input) in order. */
export class DerReader {
  private pos = 0;
  private readonly bytes: Uint8Array;
  private readonly what: string;

  constructor(bytes: Uint8Array, what: string) {
    this.bytes = bytes;
    this.what = what;
  }

  /** done says whether every byte has been read. */
  get done(): boolean {
    return this.pos === this.bytes.length;
  }

  /** peekTag is the tag of the next element, or -1 at the end. */
  peekTag(): number {
    return this.pos < this.bytes.length ? this.bytes[this.pos]! : -1;
  }

  /** next reads one element; `tag`, when given, is the tag it must have. */
  next(tag?: number): DerElement {
    const b = this.bytes;
    if (this.pos + 2 > b.length) throw malformed(this.what, 'truncated DER');
    const t = b[this.pos]!;
    if ((t & 0x1f) === 0x1f) throw malformed(this.what, 'a DER tag in high-tag-number form');
    if (tag !== undefined && t !== tag) throw malformed(this.what, `expected DER tag 0x${tag.toString(16)}, found 0x${t.toString(16)}`);
    let p = this.pos + 1;
    let len = b[p++]!;
    if (len === 0x80) throw malformed(this.what, 'an indefinite DER length');
    if (len > 0x80) {
      const octets = len & 0x7f;
      if (octets > 4) throw malformed(this.what, 'a DER length over 4 octets');
      if (p + octets > b.length) throw malformed(this.what, 'truncated DER');
      len = 0;
      for (let i = 0; i < octets; i++) len = len * 256 + b[p++]!;
    }
    if (len > b.length - p) throw malformed(this.what, 'a DER length beyond its container');
    this.pos = p + len;
    return { tag: t, content: b.subarray(p, p + len) };
  }

  /** sequence reads a SEQUENCE and returns a reader over its content. */
  sequence(): DerReader {
    return new DerReader(this.next(DER_SEQUENCE).content, this.what);
  }

  /** oid reads an OBJECT IDENTIFIER in dotted form. */
  oid(): string {
    return oidText(this.next(DER_OID).content, this.what);
  }

  /**
   * integer reads a non-negative INTEGER as a number; values of 2^48 and above (over 6 octets) read as Infinity (every
   * caller compares it with a cap far below). A negative or empty INTEGER is refused.
   */
  integer(): number {
    const c = this.next(DER_INTEGER).content;
    if (c.length === 0) throw malformed(this.what, 'an empty DER INTEGER');
    if (c[0]! & 0x80) throw malformed(this.what, 'a negative DER INTEGER');
    let i = 0;
    while (i < c.length - 1 && c[i] === 0) i++;
    if (c.length - i > 6) return Infinity;
    let v = 0;
    for (; i < c.length; i++) v = v * 256 + c[i]!;
    return v;
  }
}

/** oidText renders an OBJECT IDENTIFIER's content (X.690 §8.19) in dotted form; arcs above 2^53 are refused. */
function oidText(c: Uint8Array, what: string): string {
  if (c.length === 0 || c.length > 64) throw malformed(what, 'an OBJECT IDENTIFIER of a bad length');
  const arcs: number[] = [];
  let v = 0;
  for (let i = 0; i < c.length; i++) {
    const byte = c[i]!;
    if (v === 0 && byte === 0x80) throw malformed(what, 'an OBJECT IDENTIFIER arc with a leading 0x80');
    v = v * 128 + (byte & 0x7f);
    if (!Number.isSafeInteger(v)) throw malformed(what, 'an OBJECT IDENTIFIER arc over 2^53');
    if ((byte & 0x80) === 0) {
      arcs.push(v);
      v = 0;
    } else if (i === c.length - 1) {
      throw malformed(what, 'a truncated OBJECT IDENTIFIER');
    }
  }
  const first = arcs[0]!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join('.');
}
