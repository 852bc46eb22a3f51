/**
 * manifest/sign — adding one signature to a manifest.
 *
 * Rules: signing is idempotent for the same key (a second run changes nothing); if an existing signature whose
 * `public_key` is known does not verify over the current body, the body changed since it was signed and signing is
 * refused (ERR_MANIFEST_BODY_CHANGED) unless `resign` drops every old signature first. Signatures without a
 * `public_key` cannot be checked here; verification decides about them.
 */
import { PublicKey, verifyEd25519, type Signer } from '../crypto/index.ts';
import { decodeHex, encodeHex } from '../encoding/bytes.ts';
import { formatTimestamp } from '../encoding/time.ts';
import { UsageError } from '../errors.ts';
import { legacyKeyId, tufKeyId } from '../keys/key-id.ts';
import { manifestSignedBytes, type Manifest, type ManifestSignature } from './manifest.ts';

export interface SignManifestOptions {
  now: Date;
  /** resign drops existing signatures instead of refusing a changed body. */
  resign?: boolean;
}

/** signManifest returns the manifest with key's signature added (or unchanged if key already signed it). */
export function signManifest(m: Manifest, key: Signer, options: SignManifestOptions): Manifest {
  const message = manifestSignedBytes(m);
  let existing: readonly ManifestSignature[] = m.signatures;
  if (options.resign) existing = [];
  const stale: string[] = [];
  for (const s of existing) {
    if (s.public_key === undefined || s.algorithm !== 'ed25519') continue;
    let ok: boolean;
    try {
      ok = verifyEd25519(PublicKey.fromRaw(decodeHex(s.public_key, 32)), message, decodeHex(s.signature, 64));
    } catch {
      ok = false;
    }
    if (!ok) stale.push(s.key_id);
  }
  if (stale.length > 0) {
    throw new UsageError('ERR_MANIFEST_BODY_CHANGED', `the manifest body changed since it was signed by ${stale.join(', ')}`, {
      details: { stale },
    });
  }
  const keyId = tufKeyId(key.publicKey);
  if (existing.some((s) => s.key_id === keyId && s.public_key === key.publicKey.hex)) {
    return { ...m, signatures: existing };
  }
  // An older signature by this key (same public key, or its legacy 32-hex id) is replaced, not kept beside.
  const legacy = legacyKeyId(key.publicKey);
  const byThisKey = (s: ManifestSignature): boolean => s.public_key === key.publicKey.hex || s.key_id === keyId || s.key_id === legacy;
  const sig: ManifestSignature = {
    algorithm: 'ed25519',
    key_id: keyId,
    signature: encodeHex(key.sign(message)),
    signed_at: formatTimestamp(options.now),
    public_key: key.publicKey.hex,
  };
  return { ...m, signatures: [...existing.filter((s) => !byThisKey(s)), sig] };
}
