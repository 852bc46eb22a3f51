/**
 * fuzz/targets/tuf — TUF timestamp, snapshot and targets metadata (src/trust/tuf-metadata.ts), what `custody fetch
 * --tuf` reads from an untrusted repository: parsed under each role, verified under a fixed root; an accepted
 * document's `signed` object, re-signed, must parse back to the same model.
 */
import { sha256 } from '../../src/crypto/index.ts';
import { isTrustError } from '../../src/errors.ts';
import {
  checkMetaFile,
  createSnapshot,
  createTargets,
  createTimestamp,
  metaFileFor,
  parseTufMetadata,
  signTufMetadata,
  verifyTufSignatures,
  type TufRole,
} from '../../src/trust/tuf-metadata.ts';
import { key, NOW, rootOf, trusted } from '../../test/support/fixtures.ts';
import { jsonFieldMutations } from '../structured.ts';
import { enc, expectSame, sameModel, type FuzzTarget } from '../target.ts';

const ROLES: readonly TufRole[] = ['timestamp', 'snapshot', 'targets'];

export const tufMetadata: FuzzTarget = {
  name: 'tuf-metadata',
  parses: 'TUF timestamp, snapshot and targets metadata (parseTufMetadata, signatures, meta bytes)',
  make() {
    const k = key('fuzz-tuf');
    const root = trusted(rootOf([k], 1));
    const later = new Date(NOW.getTime() + 86_400_000);
    const data = enc.encode('target bytes');
    const targets = signTufMetadata(
      createTargets({
        version: 2,
        expires: later,
        targets: new Map([['stable/x86_64/vmlinuz', { length: data.length, hashes: { sha256: Buffer.from(sha256(data)).toString('hex') }, custom: { channel: 'stable', arch: 'x86_64', sequence: 4 } }]]),
      }),
      [k],
    );
    const snapshot = signTufMetadata(createSnapshot({ version: 3, expires: later, meta: new Map([['targets.json', metaFileFor(enc.encode(targets), 2)]]) }), [k]);
    const timestamp = signTufMetadata(createTimestamp({ version: 4, expires: later, snapshot: metaFileFor(enc.encode(snapshot), 3) }), [k]);
    const texts = [timestamp, snapshot, targets];
    return Promise.resolve({
      seeds: texts.map((t) => enc.encode(t)),
      structured: jsonFieldMutations(texts.map((t) => JSON.parse(t) as never)),
      run(input: Uint8Array) {
        let accepted = 0;
        let refusal: unknown;
        for (const role of ROLES) {
          let doc;
          try {
            doc = parseTufMetadata(input, role);
          } catch (e) {
            if (!isTrustError(e)) throw e;
            refusal ??= e;
            continue;
          }
          accepted++;
          const again = parseTufMetadata(signTufMetadata(doc.signed, [k]), role);
          expectSame(sameModel(again.signed, doc.signed) && again.version === doc.version, 're-signing a parsed document parses differently');
          if (doc.type === 'timestamp') checkMetaFile(enc.encode(snapshot), doc.snapshot, 'snapshot');
          verifyTufSignatures(doc, root, role, NOW);
        }
        expectSame(accepted <= 1, 'one document parsed as two roles');
        // Refused under every role: the parser's own coded refusal is the answer.
        if (accepted === 0) throw refusal;
      },
    });
  },
};
