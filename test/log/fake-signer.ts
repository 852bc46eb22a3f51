/** A stand-in checkpoint signer for sequencer unit tests (no note format involved). */
import { decodeBase64, encodeBase64 } from '../../src/encoding/bytes.ts';
import type { CheckpointSigner } from '../../src/log/sequencer.ts';

export function fakeSigner(origin = 'example.test/log'): CheckpointSigner & { signed: Array<{ size: number; root: string }> } {
  const signed: Array<{ size: number; root: string }> = [];
  return {
    signed,
    sign(size, root) {
      signed.push({ size, root: encodeBase64(root) });
      return `${origin}\n${size}\n${encodeBase64(root)}\n\n— fake sig\n`;
    },
    open(text) {
      const [o, size, root] = text.split('\n');
      if (o !== origin) throw new Error('origin');
      return { size: Number(size), root: decodeBase64(root!, 32) };
    },
  };
}
