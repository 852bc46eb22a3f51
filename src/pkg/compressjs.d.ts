/**
 * Minimal types for compressjs 1.0.3 (pure-JS bzip2; the package ships no types). Only the Bzip2 method is used,
 * through its stream interface so decoded output can be capped byte by byte (src/pkg/codec.ts).
 */
declare module 'compressjs' {
  /** ByteSink receives decoded bytes one at a time; throwing from writeByte aborts decoding. */
  export interface ByteSink {
    writeByte(byte: number): void;
  }
  export interface CompressionMethod {
    compressFile(input: Uint8Array, output?: undefined, blockSizeMultiplier?: number): Uint8Array | number[];
    decompressFile(input: Uint8Array, output: ByteSink, multistream?: boolean): unknown;
  }
  const compressjs: { Bzip2: CompressionMethod };
  export default compressjs;
}
