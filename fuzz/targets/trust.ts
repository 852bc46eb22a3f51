/**
 * fuzz/targets/trust — manifests (src/manifest), trust roots (src/trust/root.ts) and signature sets
 * (src/trust/signature-set.ts): parsed, then verified against a fixed trust root; accepted documents must format
 * back to something that parses to the same model.
 */
import { sha256 } from '../../src/crypto/index.ts';
import { formatManifest, parseManifest } from '../../src/manifest/manifest.ts';
import { signManifest } from '../../src/manifest/sign.ts';
import { verifyManifest } from '../../src/manifest/verify.ts';
import { checkRootSignatures, formatRoot, parseRoot, updateRoot, verifyPinnedRoot } from '../../src/trust/root.ts';
import { addSetSignature, formatSignatureSet, parseSignatureSet, verifySignatureSet } from '../../src/trust/signature-set.ts';
import { key, manifestOf, NOW, rootOf, trusted } from '../../test/support/fixtures.ts';
import { jsonFieldMutations } from '../structured.ts';
import { enc, expectSame, sameModel, type FuzzTarget } from '../target.ts';
import { corpusFiles } from './corpus.ts';

const json = (s: string): never => JSON.parse(s) as never;

export const manifest: FuzzTarget = {
  name: 'manifest',
  parses: 'release manifests (parseManifest, verifyManifest)',
  make() {
    const keys = [key('m1'), key('m2'), key('m3')];
    const root = trusted(rootOf(keys, 2));
    let m = manifestOf({ app: { filename: 'app.tar.gz', data: enc.encode('app') }, docs: { filename: 'docs.zip', data: enc.encode('docs') } });
    for (const k of keys.slice(0, 2)) m = signManifest(m, k, { now: NOW });
    const texts = [formatManifest(m), formatManifest(signManifest(m, keys[2]!, { now: NOW }))];
    return Promise.resolve({
      seeds: texts.map((t) => enc.encode(t)),
      structured: jsonFieldMutations(texts.map(json)),
      run(input: Uint8Array) {
        const parsed = parseManifest(input);
        const again = parseManifest(formatManifest(parsed));
        expectSame(sameModel(again.body, parsed.body) && again.signatures.length === parsed.signatures.length, 'formatManifest(parseManifest(x)) parses differently');
        return verifyManifest(parsed, root, { now: NOW, lastSeenSequence: 3 });
      },
    });
  },
};

export const trustRoot: FuzzTarget = {
  name: 'trust-root',
  parses: 'TUF root.json (parseRoot, pinning, chain update)',
  async make(ctx) {
    const k = [key('r1'), key('r2'), key('r3')];
    const v1 = rootOf(k.slice(0, 2), 1, k.slice(0, 2));
    const pinned = trusted(v1);
    const v2 = rootOf(k, 2, k, { version: 2 });
    const texts = [formatRoot(v1), formatRoot(v2)];
    const files = await corpusFiles(ctx.repoRoot, (p) => /root.*\.json$/.test(p), 16, 1 << 20);
    return {
      seeds: [...texts.map((t) => enc.encode(t)), ...files],
      structured: jsonFieldMutations(texts.map(json)),
      run(input: Uint8Array) {
        const doc = parseRoot(input);
        expectSame(sameModel(parseRoot(formatRoot(doc)).signed, doc.signed), 'formatRoot(parseRoot(x)) parses differently');
        checkRootSignatures(doc, doc, NOW);
        try {
          updateRoot(pinned, doc, NOW);
        } finally {
          verifyPinnedRoot(doc, { now: NOW });
        }
      },
    };
  },
};

export const signatureSet: FuzzTarget = {
  name: 'signature-set',
  parses: '.sigs signature sets (parse, verify under a root)',
  make() {
    const keys = [key('s1'), key('s2')];
    const root = trusted(rootOf(keys, 2));
    const digest = Buffer.from(sha256(enc.encode('artifact'))).toString('hex');
    let set = addSetSignature(undefined, 'artifact.tar', digest, keys[0]!);
    const one = formatSignatureSet(set);
    set = addSetSignature(set, 'artifact.tar', digest, keys[1]!);
    const texts = [one, formatSignatureSet(set)];
    return Promise.resolve({
      seeds: texts.map((t) => enc.encode(t)),
      structured: jsonFieldMutations(texts.map(json)),
      run(input: Uint8Array) {
        const s = parseSignatureSet(input);
        expectSame(sameModel(parseSignatureSet(formatSignatureSet(s)), s), 'formatSignatureSet(parseSignatureSet(x)) parses differently');
        return verifySignatureSet(s, digest, root, NOW);
      },
    });
  },
};

